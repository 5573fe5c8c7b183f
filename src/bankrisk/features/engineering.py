"""The one definition of model features, shared by training and serving.

Input is a float matrix of the 23 raw UCI fields in `schema.FIELD_NAMES` order (one row per
customer); output is a float matrix of engineered features in `feature_names()` order. It is
plain numpy so that the serving process can run it on a single row in microseconds.

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

from dataclasses import dataclass

import numpy as np

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


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)))


# Output column of every feature, from `_FEATURE_GROUPS`' order: nothing below hard-codes a
# position, and the consecutive runs written as one slice are checked at import. The same in
# every FeatureSet (the optional columns come after), so `features.reasons` reads them too.
_IDX = {name: i for i, name in enumerate(_FEATURE_GROUPS)}
FEATURE_INDEX: dict[str, int] = dict(_IDX)


def _span(first: str, count: int) -> slice:
    """The output columns of `count` consecutive features starting at `first` (the names in
    each run are asserted below)."""
    begin = _IDX[first]
    return slice(begin, begin + count)


_PAY_STATUS_COLS = _span("pay_status_0", _N_MONTHS)
_UTILIZATION_COLS = _span("utilization_1", _N_MONTHS)
_RATIO_COLS = _span("payment_ratio_1", _N_MONTHS - 1)
_LOG_PAY_COLS = _span("log_pay_amt_1", 2)
assert list(_FEATURE_GROUPS)[_PAY_STATUS_COLS] == [
    "pay_status_0",
    *(f"pay_status_{i}" for i in range(2, 7)),
]
assert list(_FEATURE_GROUPS)[_UTILIZATION_COLS] == [f"utilization_{i}" for i in range(1, 7)]
assert list(_FEATURE_GROUPS)[_RATIO_COLS] == [f"payment_ratio_{i}" for i in range(1, 6)]
assert list(_FEATURE_GROUPS)[_LOG_PAY_COLS] == ["log_pay_amt_1", "log_pay_amt_2"]


def build_features(raw: np.ndarray, features: FeatureSet = DEFAULT_FEATURES) -> np.ndarray:
    """Engineer features from raw rows (n, 23) in FIELD_NAMES order; returns (n, k) float64.

    Rows must already be valid (see `bankrisk.data.validate` and the API schema): the
    function assumes LIMIT_BAL > 0 and finite values, and never produces NaN for such rows.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(FIELD_NAMES):
        raise ValueError(f"expected raw rows of {len(FIELD_NAMES)} fields, got {raw.shape}")
    # Written column by column into one preallocated matrix, with as few numpy calls as
    # possible: for a single API request the per-call overhead is the whole cost.
    out = np.empty((raw.shape[0], len(_FEATURE_GROUPS) + len(features.extras)))
    i = _IDX

    def col(name: str) -> np.ndarray:
        return out[:, i[name]]

    limit = raw[:, _COL["LIMIT_BAL"]]
    status = raw[:, _PAY]  # Sep .. Apr, most recent first
    bills = raw[:, _BILL]
    paid = raw[:, _AMT]
    late = np.maximum(status, 0.0)
    is_late = late > 0

    out[:, i["log_limit_bal"]] = np.log(limit)
    out[:, _PAY_STATUS_COLS] = status
    out[:, i["months_late_count"]] = is_late.sum(axis=1)
    out[:, i["max_months_late"]] = late.max(axis=1)
    # Months since the most recent late month (0 = September), 6 = never late in the window.
    out[:, i["months_since_late"]] = np.where(
        col("months_late_count") > 0, is_late.argmax(axis=1), _N_MONTHS
    )
    out[:, i["late_trend"]] = late[:, 0] - late[:, 1:].sum(axis=1) / (_N_MONTHS - 1)
    out[:, i["paid_in_full_count"]] = (status == -1).sum(axis=1)
    out[:, i["no_consumption_count"]] = (status == -2).sum(axis=1)

    utilization = out[:, _UTILIZATION_COLS]
    np.divide(bills, limit[:, None], out=utilization)
    out[:, i["utilization_mean"]] = utilization.sum(axis=1) / _N_MONTHS
    out[:, i["utilization_max"]] = utilization.max(axis=1)
    out[:, i["utilization_trend"]] = utilization[:, 0] - utilization[:, 5]
    out[:, i["bill_growth_3m"]] = (bills[:, 0] - bills[:, 3]) / limit

    # PAY_AMT in month i settles the statement of the month before (BILL_AMT i+1); nothing
    # owed counts as fully paid, and paying more than twice the bill adds nothing.
    owed = bills[:, 1:]
    ratio = out[:, _RATIO_COLS]
    ratio[:] = np.where(owed > 0, paid[:, :-1] / np.maximum(owed, 1.0), 1.0)
    np.minimum(ratio, _MAX_PAYMENT_RATIO, out=ratio)
    np.maximum(ratio, 0.0, out=ratio)
    out[:, i["payment_ratio_mean"]] = ratio.sum(axis=1) / (_N_MONTHS - 1)
    out[:, i["unpaid_share_1"]] = np.minimum(
        np.maximum((bills[:, 1] - paid[:, 0]) / limit, -1.0), 2.0
    )

    mean_paid = paid.sum(axis=1) / _N_MONTHS
    out[:, _LOG_PAY_COLS] = np.log1p(paid[:, :2])
    out[:, i["log_pay_amt_mean"]] = np.log1p(mean_paid)
    out[:, i["payment_to_limit"]] = mean_paid / limit
    out[:, i["signed_log_bill_1"]] = _signed_log(bills[:, 0])
    # Months in which a bill was owed and nothing at all was paid against it.
    out[:, i["missed_payment_count"]] = ((paid[:, :-1] == 0) & (owed > 0)).sum(axis=1)
    extra = len(_FEATURE_GROUPS)
    if features.use_education:
        education = raw[:, _COL["EDUCATION"]]
        out[:, extra] = np.where((education < 1) | (education > 4), 4.0, education)
        extra += 1
    if features.use_age:
        out[:, extra] = raw[:, _COL["AGE"]]
    return out

