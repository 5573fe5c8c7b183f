"""The attribute rules: which attribute of every characteristic is true of a customer.

The attributes are defined once (`evaluate`), as a function of the raw fields and the features
the model sees (utilisation, payment ratio, counts) and an `Ops` namespace, and chosen by key
(`ATTRIBUTE_INDEX`), never by position. The one definition is evaluated with numpy over
columns for a batch (`measure`) or in plain Python for one row (a single request), bit for bit
alike (`features.ops`). Each attribute comes with the named values its templates use
(`reasons.texts`), computed from the same raw fields only, so every text is true by
construction.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bankrisk.features.engineering import FEATURE_INDEX
from bankrisk.features.ops import COLUMNS, Num, Ops, total
from bankrisk.features.reasons.catalogue import ATTRIBUTE_INDEX, REASON_CODES, Attribute
from bankrisk.features.reasons.policy import ReasonPolicy
from bankrisk.features.reasons.texts import TEMPLATES
from bankrisk.schema import FIELD_NAMES, PAY_AMOUNTS

# Mean utilisation below LOW_USE is "little use", from HIGH_USE on it is "high" (between
# them "moderate", which is not adverse and never stated).
LOW_USE, HIGH_USE = 0.05, 0.50
# A mean monthly payment (NT$) above 0 and below this is "small" (adverse); from it on,
# payments are not stated as a reason.
SMALL_PAYMENT = 2000.0
# A mean payment ratio from this on (and no bill left unpaid) counts as bills paid.
PAID_RATIO = 0.90
# A change of utilisation between April and September smaller than this is "about the same".
TREND_STEP = 0.01
_N_MONTHS = 6

_COL = {name: i for i, name in enumerate(FIELD_NAMES)}
_LIMIT = _COL["LIMIT_BAL"]
_AMT = slice(_COL[PAY_AMOUNTS[0]], _COL[PAY_AMOUNTS[-1]] + 1)
_F = FEATURE_INDEX
_PAY_BEFORE = [_F[f"pay_status_{m}"] for m in range(2, 7)]  # PAY_2..PAY_6


def _indices(code: str, keys: Iterable[str]) -> tuple[int, ...]:
    """The attribute index of each of `keys` of `code` (`ATTRIBUTE_INDEX`)."""
    return tuple(ATTRIBUTE_INDEX[code][key] for key in keys)


# The attributes the rules choose, by key: looked up once here, not on every row (one
# request's rules are a few microseconds of plain Python, where each lookup would show).
_R02_LATE, _R02_REVOLVING, _R02_NEVER_LATE = _indices("R02", ("late", "revolving", "never_late"))
_R04_MISSED, _R04_PART_PAID, _R04_PAID = _indices("R04", ("missed", "part_paid", "paid"))
_R05_LOW, _R05_OTHER = _indices("R05", ("low", "other"))
_R07_NONE, _R07_SMALL, _R07_SOME = _indices("R07", ("none", "small", "some"))
_R09_NO_USE = ATTRIBUTE_INDEX["R09"]["no_use"]
# Tables for `Ops.lookup`. R01 by September's status -2..9 (the position is status + 2).
_R01_BY_STATUS = _indices(
    "R01",
    ("no_use", "paid_in_full", "revolving", *["late"] * 9),  # -2, -1, 0, 1..9
)
# R09, when every month had use, by the months paid in full 0..6.
_R09_BY_FULL = _indices(
    "R09",
    ("never_paid_in_full", *["some_paid_in_full"] * 5, "paid_in_full"),  # 0, 1..5, 6
)
# R03 by mean utilisation: below 0, below LOW_USE, below HIGH_USE, from HIGH_USE on
# (`Ops.bin` counts the edges at or below a value).
_USE_EDGES = (0.0, LOW_USE, HIGH_USE)
_USE_BINS = _indices("R03", ("credit_balance", "low_use", "moderate", "high"))
# R06 by the change of utilisation: falling when it is at most -TREND_STEP, rising from
# TREND_STEP on, else steady.
_TREND_EDGES = (math.nextafter(-TREND_STEP, math.inf), TREND_STEP)
_TREND_BINS = _indices("R06", ("falling", "steady", "rising"))
_BY_CODE = operator.itemgetter(*(r.code for r in REASON_CODES))  # a {code: x} in code order


def evaluate(
    raw: Sequence[Num], f: Sequence[Num], cut: float, ops: Ops
) -> tuple[list[Num], list[dict[str, Num]]]:
    """The one definition of the attributes: for raw fields in FIELD_NAMES order and their
    features (`build_features`), columns or one row (`features.ops`), the attribute index of
    each characteristic and the named values its templates use, in REASON_CODES order. `cut`
    is the policy's low credit limit."""
    where, lookup, bin_ = ops.where, ops.lookup, ops.bin
    sep = f[_F["pay_status_0"]]
    late = f[_F["months_late_count"]]
    revolving = ops.count([f[k] == 0 for k in _PAY_BEFORE])
    mean_use = f[_F["utilization_mean"]]
    missed = f[_F["missed_payment_count"]]
    ratio = f[_F["payment_ratio_mean"]]
    limit = raw[_LIMIT]
    start, end = f[_F["utilization_6"]], f[_F["utilization_1"]]
    mean_paid = total(raw[_AMT]) / _N_MONTHS
    no_use = f[_F["no_consumption_count"]]
    full = f[_F["paid_in_full_count"]]
    index = {
        # September's status: no use, paid in full, revolving or late.
        "R01": lookup(_R01_BY_STATUS, sep + 2),
        # Late in any month, else revolving in any of the five months before, else neither.
        "R02": where(late > 0, _R02_LATE, where(revolving > 0, _R02_REVOLVING, _R02_NEVER_LATE)),
        # The mean utilisation over six months.
        "R03": lookup(_USE_BINS, bin_(_USE_EDGES, mean_use)),
        # Bills with nothing paid, else the mean payment ratio.
        "R04": where(
            missed > 0, _R04_MISSED, where(ratio >= PAID_RATIO, _R04_PAID, _R04_PART_PAID)
        ),
        # At or below the low cut, or not.
        "R05": where(limit > cut, _R05_OTHER, _R05_LOW),
        # Utilisation in April (BILL_AMT6) against September (BILL_AMT1).
        "R06": lookup(_TREND_BINS, bin_(_TREND_EDGES, end - start)),
        # Nothing paid in six months, else a small mean monthly payment, else neither.
        "R07": where(
            mean_paid == 0,
            _R07_NONE,
            where((mean_paid > 0) & (mean_paid < SMALL_PAYMENT), _R07_SMALL, _R07_SOME),
        ),
        # Months without use (-2), else how many months were paid in full (-1).
        "R09": where(no_use > 0, _R09_NO_USE, lookup(_R09_BY_FULL, full)),
    }
    values = {
        "R01": {"status": sep},
        "R02": {"late": late, "worst": f[_F["max_months_late"]],
                "recent": f[_F["months_since_late"]], "revolving": revolving},
        "R03": {"mean": mean_use},
        "R04": {"missed": missed, "ratio": ratio},
        "R05": {"limit": limit},
        "R06": {"start": start, "end": end},
        "R07": {"mean": mean_paid, "share": mean_paid / limit},
        "R09": {"no_use": no_use, "full": full, "unpaid": _N_MONTHS - full},
    }  # fmt: skip
    return list(_BY_CODE(index)), list(_BY_CODE(values))


@dataclass(frozen=True)
class Measured:
    """Each row's attribute of every characteristic: `index` (n, len(REASON_CODES)) into
    `REASON_CODES[j].attributes`, and the named values its templates use (one dict per code)."""

    index: np.ndarray
    values: tuple[dict[str, np.ndarray], ...]
    cut: float  # ReasonPolicy.low_credit_limit, for the templates

    def key(self, i: int, j: int) -> str:
        """The key of row i's attribute of code j."""
        return REASON_CODES[j].attributes[int(self.index[i, j])].key

    def describe(
        self, i: int, j: int, attribute_index: int | None = None
    ) -> tuple[Attribute, str, str]:
        """Row i's attribute of code j (`index[i, j]`, unless the caller has it), with its
        value and text."""
        if attribute_index is None:
            attribute_index = int(self.index[i, j])
        values, texts = self.fill(j, attribute_index, [i])
        return REASON_CODES[j].attributes[attribute_index], values[0], texts[0]

    def fill(
        self, j: int, attribute_index: int, rows: Sequence[int] | np.ndarray
    ) -> tuple[list[str], list[str]]:
        """The value and text of code j's attribute `attribute_index` for each of `rows`,
        formatted in bulk (`texts.Template`) from Python numbers (`tolist`): formatting a
        Python float is done in C, a numpy scalar is not (matters for a large batch)."""
        template = TEMPLATES[j][attribute_index]
        values = self.values[j]
        columns = [
            [self.cut] * len(rows) if name == "cut" else values[name][rows].tolist()
            for name, _ in template.args
        ]
        return template.fill(columns, len(rows))


def measure(raw: np.ndarray, features: np.ndarray, policy: ReasonPolicy) -> Measured:
    """The attribute of every characteristic for raw rows (n, 23) in FIELD_NAMES order and
    their features (`build_features(raw, ...)`), with numpy over columns."""
    cut = policy.low_credit_limit
    columns, values = evaluate(list(raw.T), list(features.T), cut, COLUMNS)
    index = np.empty((raw.shape[0], len(REASON_CODES)), dtype=np.intp)
    for j, column in enumerate(columns):
        index[:, j] = column
    return Measured(index, tuple(values), cut)
