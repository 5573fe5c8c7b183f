"""The one definition of model features, shared by training and serving.

Input is a float matrix of the 23 raw UCI fields in `schema.FIELD_NAMES` order (one row per
customer); output is a float matrix of engineered features in `feature_names()` order. The
features are defined once (`_define`) and evaluated with numpy over columns (`build_features`)
or in plain Python for one row (`build_features_row`, a single API request), bit for bit alike
(`features.ops`).

Deliberate handling of undocumented codes (see also docs in the README):
- EDUCATION is not an input by default (`FeatureSet.use_education`); when it is, 0, 5 and 6
  are merged into 4 ("others"): together they are about 1% of rows and carry no documented
  meaning, so the model should not learn a separate effect for them.
- MARRIAGE is protected and never a model input, so its undocumented 0 needs no handling.
- PAY_x -2 (no consumption) and 0 (revolving credit used) are not delays: every status below
  1 counts as "not late" in the delinquency features, while the raw status stays available as
  an ordinal feature and as counts of paid-in-full (-1) and no-consumption (-2) months.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bankrisk.features.ops import COLUMNS, ROW, Num, Ops, total
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS

_COL = {name: i for i, name in enumerate(FIELD_NAMES)}
# The monthly fields are contiguous in FIELD_NAMES, so they are read as views (slices).
_PAY = slice(_COL[PAY_STATUS[0]], _COL[PAY_STATUS[-1]] + 1)
_BILL = slice(_COL[BILL_AMOUNTS[0]], _COL[BILL_AMOUNTS[-1]] + 1)
_AMT = slice(_COL[PAY_AMOUNTS[0]], _COL[PAY_AMOUNTS[-1]] + 1)
assert [FIELD_NAMES[_PAY], FIELD_NAMES[_BILL], FIELD_NAMES[_AMT]] == [
    PAY_STATUS,
    BILL_AMOUNTS,
    PAY_AMOUNTS,
], "monthly fields must be contiguous in schema.FIELD_NAMES"
_N_MONTHS = 6
# A payment ratio above this adds nothing: the customer paid the bill and then some.
_MAX_PAYMENT_RATIO = 2.0


@dataclass(frozen=True)
class FeatureSet:
    """Which optional inputs the model uses beyond the always-on features: AGE (protected)
    and EDUCATION (off by default: it cost 0.0010 CV AUC to drop, see the README)."""

    use_age: bool = False
    use_education: bool = False

    @property
    def extras(self) -> tuple[tuple[str, str], ...]:
        """(feature, group) of the optional columns, appended in this order."""
        education = (("education", EDUCATION_GROUP),) if self.use_education else ()
        age = (("age", PROTECTED_GROUP),) if self.use_age else ()
        return (*education, *age)


# Features of these groups are never named in reason codes: AGE is protected; EDUCATION, when
# it is an input, is not something a customer can act on, nor a reason the lender may give on
# its own (README, "Protected attributes").
PROTECTED_GROUP = "PROTECTED"
EDUCATION_GROUP = "EDUCATION"

# Feature name -> reason group (a characteristic, `features.reasons`), in output column order
# (the optional EDUCATION and AGE columns are appended, `FeatureSet.extras`). Each group's
# features are computed only from the raw fields its reason texts speak about: RECENT_STATUS
# from PAY_0; DELINQUENCY_HISTORY and CARD_USE from PAY_0..PAY_6; UTILIZATION from BILL_AMT1..6
# and LIMIT_BAL; PAYMENT_RATIO from PAY_AMT1..5, BILL_AMT2..6 and LIMIT_BAL; CREDIT_LIMIT from
# LIMIT_BAL; BALANCE_TREND from BILL_AMT1, 4 and 6 and LIMIT_BAL; PAYMENT_ACTIVITY from
# PAY_AMT1..6 and LIMIT_BAL.
_FEATURE_GROUPS: dict[str, str] = {
    "log_limit_bal": "CREDIT_LIMIT",
    "pay_status_0": "RECENT_STATUS",
    **{f"pay_status_{i}": "DELINQUENCY_HISTORY" for i in range(2, 7)},
    "months_late_count": "DELINQUENCY_HISTORY",
    "max_months_late": "DELINQUENCY_HISTORY",
    "months_since_late": "DELINQUENCY_HISTORY",
    "late_trend": "DELINQUENCY_HISTORY",
    "paid_in_full_count": "CARD_USE",
    "no_consumption_count": "CARD_USE",
    **{f"utilization_{i}": "UTILIZATION" for i in range(1, 7)},
    "utilization_mean": "UTILIZATION",
    "utilization_max": "UTILIZATION",
    "utilization_trend": "BALANCE_TREND",
    "bill_growth_3m": "BALANCE_TREND",
    **{f"payment_ratio_{i}": "PAYMENT_RATIO" for i in range(1, 6)},
    "payment_ratio_mean": "PAYMENT_RATIO",
    "unpaid_share_1": "PAYMENT_RATIO",
    "log_pay_amt_1": "PAYMENT_ACTIVITY",
    "log_pay_amt_2": "PAYMENT_ACTIVITY",
    "log_pay_amt_mean": "PAYMENT_ACTIVITY",
    "payment_to_limit": "PAYMENT_ACTIVITY",
    "signed_log_bill_1": "UTILIZATION",
    "missed_payment_count": "PAYMENT_RATIO",
}


DEFAULT_FEATURES = FeatureSet()


def feature_names(features: FeatureSet = DEFAULT_FEATURES) -> list[str]:
    """Engineered feature names in column order."""
    return [*_FEATURE_GROUPS, *(name for name, _ in features.extras)]


def feature_groups(features: FeatureSet = DEFAULT_FEATURES) -> list[str]:
    """The reason group of each feature, aligned with `feature_names(features)`."""
    return [*_FEATURE_GROUPS.values(), *(group for _, group in features.extras)]


# Output column of every feature, from `_FEATURE_GROUPS`' order (the same in every FeatureSet:
# the optional columns come after), so `features.reasons` reads features by name too.
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(_FEATURE_GROUPS)}
_IN_ORDER = operator.itemgetter(*_FEATURE_GROUPS)


# The names of the monthly features, numbered as in the raw fields (PAY_2..PAY_6, ...).
_NAMES = {
    "pay_status": [f"pay_status_{m}" for m in range(2, 7)],
    "utilization": [f"utilization_{m}" for m in range(1, 7)],
    "payment_ratio": [f"payment_ratio_{m}" for m in range(1, 6)],
}


def _define(raw: Sequence[Num], features: FeatureSet, ops: Ops) -> list[Num]:
    """The one definition of the features, in `feature_names(features)` order, from the raw
    fields in FIELD_NAMES order: columns (numpy arrays) or one row (floats), see `ops`."""
    limit = raw[_COL["LIMIT_BAL"]]
    status = raw[_PAY]  # Sep .. Apr, most recent first
    bills = raw[_BILL]
    paid = raw[_AMT]
    where = ops.where
    late = [where(s > 0, s, 0.0) for s in status]
    is_late = [m > 0 for m in late]
    # Months since the most recent late month (0 = September), 6 = never late in the window.
    since: Num = _N_MONTHS
    for month in reversed(range(_N_MONTHS)):
        since = where(is_late[month], month, since)
    utilization = [b / limit for b in bills]
    # PAY_AMT in month i settles the statement of the month before (BILL_AMT i+1); nothing
    # owed counts as fully paid, and paying more than twice the bill adds nothing.
    owed = bills[1:]
    ratio = [
        ops.clip(where(o > 0, p / where(o > 1.0, o, 1.0), 1.0), 0.0, _MAX_PAYMENT_RATIO)
        for p, o in zip(paid[:-1], owed, strict=True)
    ]
    unpaid = (bills[1] - paid[0]) / limit
    mean_paid = total(paid) / _N_MONTHS
    log_bill = ops.log1p(abs(bills[0]))
    values = {
        "log_limit_bal": ops.log(limit),
        "pay_status_0": status[0],
        **dict(zip(_NAMES["pay_status"], status[1:], strict=True)),
        "months_late_count": ops.count(is_late),
        "max_months_late": ops.largest(late),
        "months_since_late": since,
        "late_trend": late[0] - total(late[1:]) / (_N_MONTHS - 1),
        "paid_in_full_count": ops.count([s == -1 for s in status]),
        "no_consumption_count": ops.count([s == -2 for s in status]),
        **dict(zip(_NAMES["utilization"], utilization, strict=True)),
        "utilization_mean": total(utilization) / _N_MONTHS,
        "utilization_max": ops.largest(utilization),
        "utilization_trend": utilization[0] - utilization[5],
        "bill_growth_3m": (bills[0] - bills[3]) / limit,
        **dict(zip(_NAMES["payment_ratio"], ratio, strict=True)),
        "payment_ratio_mean": total(ratio) / (_N_MONTHS - 1),
        "unpaid_share_1": ops.clip(unpaid, -1.0, 2.0),
        "log_pay_amt_1": ops.log1p(paid[0]),
        "log_pay_amt_2": ops.log1p(paid[1]),
        "log_pay_amt_mean": ops.log1p(mean_paid),
        "payment_to_limit": mean_paid / limit,
        "signed_log_bill_1": where(bills[0] < 0, -log_bill, log_bill),
        # Months in which a bill was owed and nothing at all was paid against it.
        "missed_payment_count": ops.count(
            [(p == 0) & (o > 0) for p, o in zip(paid[:-1], owed, strict=True)]
        ),
    }
    out = list(_IN_ORDER(values))
    if features.use_education:
        education = raw[_COL["EDUCATION"]]
        out.append(where((education < 1) | (education > 4), 4.0, education))
    if features.use_age:
        out.append(raw[_COL["AGE"]])
    return out


def build_features(raw: np.ndarray, features: FeatureSet = DEFAULT_FEATURES) -> np.ndarray:
    """Engineer features from raw rows (n, 23) in FIELD_NAMES order; returns (n, k) float64.

    Rows must already be valid (see `bankrisk.data.validate` and the API schema): the
    function assumes LIMIT_BAL > 0 and finite values, and never produces NaN for such rows.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(FIELD_NAMES):
        raise ValueError(f"expected raw rows of {len(FIELD_NAMES)} fields, got {raw.shape}")
    columns = _define(list(np.ascontiguousarray(raw.T)), features, COLUMNS)
    out = np.empty((raw.shape[0], len(columns)))
    for j, column in enumerate(columns):
        out[:, j] = column
    return out


def build_features_row(
    raw: Sequence[float], features: FeatureSet = DEFAULT_FEATURES
) -> list[float]:
    """`build_features` of one valid raw row (23 floats in FIELD_NAMES order), in plain
    Python: the same definition, bit for bit the same values (`features.ops`)."""
    return _define(raw, features, ROW)
