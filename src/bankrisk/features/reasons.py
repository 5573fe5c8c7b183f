"""Reason codes that are true of the customer: characteristics, attributes and their texts.

A reason is a **characteristic** (a reason group of features, `engineering.feature_groups`)
together with the customer's **attribute** of it: the bin their own raw values fall in, such as
UTILIZATION "high" (average balance at least half the credit limit) or RECENT_STATUS "late".
Every text is a template filled with values computed from the customer's raw fields only, the
same fields the characteristic's features are computed from, so it is true by construction.

A reason is given when both hold (`select_reasons`, the one path for every model family):
- the characteristic raised this customer's logit against the baseline: its contribution
  (scorecard points, tree Saabas or MLP gradient x input, summed over its features) minus the
  mean contribution over a good-risk reference population (the development rows that did not
  default) is positive;
- the attribute is adverse. Favourable attributes (paid in full, never late, bills paid) are
  never stated as a reason for a decline, even when the model scores them slightly above the
  good payers' mean: that would be true to the arithmetic but untrue in spirit.
Reasons are ranked by contribution, largest first, at most `MAX_REASONS`.

Plain numpy, vectorised over rows: a single request runs it on a (1, 23) array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Formatter
from typing import Any, TypedDict

import numpy as np

from bankrisk.features.engineering import FEATURE_INDEX, FeatureSet, feature_groups
from bankrisk.schema import FIELD_NAMES, PAY_AMOUNTS

MAX_REASONS = 4
# A contribution that rounds to 0.0000 logit points (as served) is no reason.
MIN_CONTRIBUTION = 0.5e-4
# The good-risk reference population contributions are centred on (`ReasonPolicy`).
BASELINE_POPULATION = "development rows that did not default"
# The months of PAY_0..PAY_6, BILL_AMT1..6 and PAY_AMT1..6, most recent first.
MONTHS = ("September", "August", "July", "June", "May", "April")
# Mean utilisation below LOW_USE is "little use", from HIGH_USE on it is "high".
LOW_USE, HIGH_USE = 0.10, 0.50
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
# Attribute indices by value (orders as in REASON_CODES below): R01 by status + 2 (-2 no use,
# -1 paid in full, 0 revolving, 1..9 late); R09 by months paid in full when every month had use.
_R01_BY_STATUS = np.array([2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
_R09_BY_FULL = np.array([2, 1, 1, 1, 1, 1, 3])
# R03 below 0: credit balance; below LOW_USE: low use; below HIGH_USE: moderate; else high.
_USE_EDGES = np.array([0.0, LOW_USE, HIGH_USE])
# R06 falling when the change is <= -TREND_STEP, rising when >= TREND_STEP, else steady.
_TREND_EDGES = np.array([np.nextafter(-TREND_STEP, np.inf), TREND_STEP])


@dataclass(frozen=True)
class Attribute:
    """One bin of a characteristic: a stable `key`, and `text` and `value` templates over the
    characteristic's named values (`str.format` syntax plus the specs of `_Formatter`)."""

    key: str
    text: str
    value: str
    adverse: bool = True


@dataclass(frozen=True)
class ReasonCode:
    """A characteristic: a stable code, its reason group, the raw fields behind it and its
    attributes, in the order of the attribute index `measure` returns."""

    code: str
    group: str
    feature: str
    attributes: tuple[Attribute, ...]

    def attribute(self, key: str) -> Attribute:
        return next(a for a in self.attributes if a.key == key)


class Reason(TypedDict):
    """One stated reason, as the API returns it."""

    code: str
    group: str
    feature: str
    attribute: str
    value: str
    text: str
    contribution: float


REASON_CODES: tuple[ReasonCode, ...] = (
    ReasonCode(
        "R01",
        "RECENT_STATUS",
        "PAY_0",
        (
            Attribute("late", "Payment {status:delay} late in September", "PAY_0 = {status:.0f}"),
            Attribute(
                "revolving",
                "Only part of the bill was paid in September (revolving credit)",
                "PAY_0 = 0 (revolving)",
            ),
            Attribute("no_use", "No use of the card in September", "PAY_0 = -2 (no use)"),
            Attribute(
                "paid_in_full", "Bill paid in full in September", "PAY_0 = -1 (paid)", False
            ),
        ),
    ),
    ReasonCode(
        "R02",
        "DELINQUENCY_HISTORY",
        "PAY_0..PAY_6",
        (
            Attribute(
                "late",
                "Late in {late:.0f} of the last six months, up to {worst:delay} late "
                "(most recently in {recent:month})",
                "{late:.0f} of 6 months late, worst {worst:delay}",
            ),
            Attribute(
                "revolving",
                "Only part of the bill paid (revolving credit) in {revolving:.0f} of the five "
                "months before September",
                "{revolving:.0f} of 5 months revolving, never late",
            ),
            Attribute(
                "never_late",
                "Never late in the last six months",
                "0 of 6 months late",
                False,
            ),
        ),
    ),
    ReasonCode(
        "R03",
        "UTILIZATION",
        "BILL_AMT1..6, LIMIT_BAL",
        (
            Attribute(
                "credit_balance",
                "Card in credit on average over the last six months: average balance "
                "{mean:.1%} of the credit limit",
                "average balance {mean:.1%} of the limit",
            ),
            Attribute(
                "low_use",
                "Little use of the credit limit: average balance {mean:.1%} of the limit over "
                "the last six months",
                "average balance {mean:.1%} of the limit",
            ),
            Attribute(
                "moderate",
                "Average balance {mean:.0%} of the credit limit over the last six months",
                "average balance {mean:.1%} of the limit",
            ),
            Attribute(
                "high",
                "Balance high relative to the credit limit: average {mean:.0%} over the last "
                "six months",
                "average balance {mean:.1%} of the limit",
            ),
        ),
    ),
    ReasonCode(
        "R04",
        "PAYMENT_RATIO",
        "PAY_AMT1..5, BILL_AMT2..6, LIMIT_BAL",
        (
            Attribute(
                "missed",
                "Nothing paid against the bill in {missed:.0f} of the last five months",
                "{missed:.0f} of 5 bills with nothing paid",
            ),
            Attribute(
                "part_paid",
                "Paid on average {ratio:.0%} of each bill over the last five months",
                "average payment {ratio:.0%} of the bill",
            ),
            Attribute(
                "paid",
                "Bills paid: on average {ratio:.0%} of each bill over the last five months",
                "average payment {ratio:.0%} of the bill",
                False,
            ),
        ),
    ),
    ReasonCode(
        "R05",
        "CREDIT_LIMIT",
        "LIMIT_BAL",
        (
            Attribute(
                "low",
                "Low credit limit: NT$ {limit:,.0f}, at or below the lower quartile of the "
                "training data (NT$ {cut:,.0f})",
                "NT$ {limit:,.0f}",
            ),
            Attribute("other", "Credit limit of NT$ {limit:,.0f}", "NT$ {limit:,.0f}"),
        ),
    ),
    ReasonCode(
        "R06",
        "BALANCE_TREND",
        "BILL_AMT1, BILL_AMT4, BILL_AMT6, LIMIT_BAL",
        (
            Attribute(
                "falling",
                "Balance fell from {start:.1%} to {end:.1%} of the credit limit from April to "
                "September",
                "{start:.1%} of the limit in April, {end:.1%} in September",
            ),
            Attribute(
                "steady",
                "Balance about the same share of the credit limit in April and September "
                "({start:.1%} and {end:.1%})",
                "{start:.1%} of the limit in April, {end:.1%} in September",
            ),
            Attribute(
                "rising",
                "Balance rose from {start:.1%} to {end:.1%} of the credit limit from April to "
                "September",
                "{start:.1%} of the limit in April, {end:.1%} in September",
            ),
        ),
    ),
    ReasonCode(
        "R07",
        "PAYMENT_ACTIVITY",
        "PAY_AMT1..6, LIMIT_BAL",
        (
            Attribute("none", "No payments in the last six months", "NT$ 0"),
            Attribute(
                "some",
                "Average monthly payment NT$ {mean:,.0f} ({share:.1%} of the credit limit) "
                "over the last six months",
                "NT$ {mean:,.0f} a month",
            ),
        ),
    ),
    # R08 (EDUCATION) is retired: EDUCATION is never a reason on its own (README).
    ReasonCode(
        "R09",
        "CARD_USE",
        "PAY_0..PAY_6",
        (
            Attribute(
                "no_use",
                "No use of the card in {no_use:.0f} of the last six months",
                "{no_use:.0f} of 6 months without use",
            ),
            Attribute(
                "some_paid_in_full",
                "Bill paid in full in {full:.0f} of the last six months",
                "{full:.0f} of 6 months paid in full",
            ),
            Attribute(
                "never_paid_in_full",
                "Bill not paid in full in any of the last six months",
                "0 of 6 months paid in full",
            ),
            Attribute(
                "paid_in_full",
                "Bill paid in full every month of the last six",
                "6 of 6 months paid in full",
                False,
            ),
        ),
    ),
)
_CODE_INDEX = {r.code: j for j, r in enumerate(REASON_CODES)}
# The template fields formatted with `_Value`'s own specs ({x:month}, {x:delay}).
_CUSTOM_SPEC_FIELDS = frozenset(
    name
    for r in REASON_CODES
    for a in r.attributes
    for template in (a.text, a.value)
    for _, name, spec, _ in Formatter().parse(template)
    if name and spec in ("month", "delay")
)
_CODES = np.arange(len(REASON_CODES))
# ADVERSE[j, a]: attribute a of reason code j may be stated (padded with False).
_N_ATTRIBUTES = max(len(r.attributes) for r in REASON_CODES)
ADVERSE = np.array(
    [
        [a.adverse for a in r.attributes] + [False] * (_N_ATTRIBUTES - len(r.attributes))
        for r in REASON_CODES
    ]
)


def reason_group_matrix(features: FeatureSet) -> np.ndarray:
    """Feature-to-reason-group incidence (k, len(REASON_CODES)); AGE and EDUCATION get an
    all-zero row, so they can never surface as a reason."""
    return np.array(
        [[1.0 if g == r.group else 0.0 for r in REASON_CODES] for g in feature_groups(features)]
    )


@dataclass(frozen=True)
class ReasonPolicy:
    """What reasons are measured against, stored in the bundle: the good-risk baseline the
    contributions are centred on (described; the vector is the predictor's `reference`) and
    the credit limit at or below which a limit is called low (the development rows' lower
    quartile)."""

    low_credit_limit: float
    baseline_rows: int
    baseline_population: str = BASELINE_POPULATION

    @classmethod
    def from_development(cls, raw: np.ndarray, labels: np.ndarray) -> ReasonPolicy:
        limit = float(np.quantile(raw[:, _LIMIT], 0.25, method="lower"))
        return cls(low_credit_limit=limit, baseline_rows=int(np.sum(labels == 0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"population": self.baseline_population, "rows": self.baseline_rows},
            "low_credit_limit": self.low_credit_limit,
            "max_reasons": MAX_REASONS,
        }


@dataclass(frozen=True)
class Measured:
    """Each row's attribute of every characteristic: `index` (n, len(REASON_CODES)) into
    `REASON_CODES[j].attributes`, and the named values its templates use (one dict per code)."""

    index: np.ndarray
    values: tuple[dict[str, np.ndarray], ...]
    cut: float  # ReasonPolicy.low_credit_limit, for the templates
    _lists: dict[int, dict[str, list[float]]] = field(default_factory=dict, repr=False)

    def key(self, i: int, j: int) -> str:
        return REASON_CODES[j].attributes[int(self.index[i, j])].key

    def describe(
        self, i: int, j: int, attribute_index: int | None = None
    ) -> tuple[Attribute, str, str]:
        """Row i's attribute of code j (`index[i, j]`, unless the caller has it), with its
        value and text.

        The values are Python floats (`listed`), wrapped in `_Value` only where a template
        uses one of its own specs: the rest format in C, which matters for a large batch."""
        if attribute_index is None:
            attribute_index = int(self.index[i, j])
        attribute = REASON_CODES[j].attributes[attribute_index]
        named: dict[str, float] = {
            name: _Value(v[i]) if name in _CUSTOM_SPEC_FIELDS else v[i]
            for name, v in self.listed(j).items()
        }
        named["cut"] = self.cut
        return attribute, attribute.value.format_map(named), attribute.text.format_map(named)

    def listed(self, j: int) -> dict[str, list[float]]:
        """Code j's values as Python lists, converted once, when first needed: formatting a
        Python float is done in C, a numpy scalar is not (matters for a large batch)."""
        cache = self._lists.get(j)
        if cache is None:
            cache = self._lists[j] = {name: v.tolist() for name, v in self.values[j].items()}
        return cache


def measure(raw: np.ndarray, features: np.ndarray, policy: ReasonPolicy) -> Measured:
    """The attribute of every characteristic for raw rows (n, 23) in FIELD_NAMES order and
    their features (`build_features(raw, ...)`): the attributes are read from the very values
    the model sees (utilisation, payment ratio, counts), with as few numpy calls as possible
    (a single request runs this on one row)."""
    f = features
    n = raw.shape[0]
    index = np.empty((n, len(REASON_CODES)), dtype=np.intp)
    col = _CODE_INDEX

    # R01: September's status -2..9 -> no use, paid in full, revolving, late x 9.
    sep = f[:, _F["pay_status_0"]]
    index[:, col["R01"]] = _R01_BY_STATUS[sep.astype(np.intp) + 2]
    # R02: late in any month, else revolving in any of the five months before, else neither.
    late = f[:, _F["months_late_count"]]
    revolving = np.add.reduce(f[:, _PAY_BEFORE] == 0, axis=1)
    index[:, col["R02"]] = np.where(late > 0, 0, 2 - (revolving > 0))
    # R03: the mean utilisation over six months.
    mean_use = f[:, _F["utilization_mean"]]
    index[:, col["R03"]] = _USE_EDGES.searchsorted(mean_use, "right")
    # R04: bills with nothing paid, else the mean payment ratio.
    missed = f[:, _F["missed_payment_count"]]
    ratio = f[:, _F["payment_ratio_mean"]]
    index[:, col["R04"]] = np.where(missed > 0, 0, 1 + (ratio >= PAID_RATIO))
    # R05: at or below the low cut, or not.
    limit = raw[:, _LIMIT]
    index[:, col["R05"]] = limit > policy.low_credit_limit
    # R06: utilisation in April (BILL_AMT6) against September (BILL_AMT1).
    start, end = f[:, _F["utilization_6"]], f[:, _F["utilization_1"]]
    index[:, col["R06"]] = _TREND_EDGES.searchsorted(end - start, "right")
    # R07: nothing paid in six months, or the mean monthly payment.
    mean_paid = np.add.reduce(raw[:, _AMT], axis=1) / _N_MONTHS
    index[:, col["R07"]] = mean_paid != 0
    # R09: months without use (-2), else how many months were paid in full (-1).
    no_use = f[:, _F["no_consumption_count"]]
    full = f[:, _F["paid_in_full_count"]]
    index[:, col["R09"]] = np.where(no_use > 0, 0, _R09_BY_FULL[full.astype(np.intp)])

    values = {
        "R01": {"status": sep},
        "R02": {"late": late, "worst": f[:, _F["max_months_late"]],
                "recent": f[:, _F["months_since_late"]], "revolving": revolving},
        "R03": {"mean": mean_use},
        "R04": {"missed": missed, "ratio": ratio},
        "R05": {"limit": limit},
        "R06": {"start": start, "end": end},
        "R07": {"mean": mean_paid, "share": mean_paid / limit},
        "R09": {"no_use": no_use, "full": full},
    }  # fmt: skip
    return Measured(index, tuple(values[r.code] for r in REASON_CODES), policy.low_credit_limit)


def select_reasons(
    raw: np.ndarray, features: np.ndarray, by_group: np.ndarray, policy: ReasonPolicy
) -> list[list[Reason]]:
    """Up to `MAX_REASONS` reasons per row, largest contribution first: the characteristics
    whose contribution against the baseline (`by_group`, (n, len(REASON_CODES))) is positive
    and whose attribute for this customer is adverse."""
    return _select(measure(raw, features, policy), by_group)


def _select(measured: Measured, by_group: np.ndarray) -> list[list[Reason]]:
    eligible = (by_group >= MIN_CONTRIBUTION) & ADVERSE[_CODES, measured.index]
    # Largest contribution first (stable: ties keep the REASON_CODES order), eligible only.
    order = np.argsort(-by_group, axis=1, kind="stable")
    out: list[list[Reason]] = []
    for i, (row_order, row_eligible, row_index, row_contribution) in enumerate(
        zip(
            order.tolist(),
            eligible.tolist(),
            measured.index.tolist(),
            by_group.tolist(),
            strict=True,
        )
    ):
        reasons: list[Reason] = []
        for j in row_order:
            if not row_eligible[j]:
                continue
            if len(reasons) == MAX_REASONS:
                break
            attribute, value, text = measured.describe(i, j, row_index[j])
            code = REASON_CODES[j]
            reasons.append(
                {
                    "code": code.code,
                    "group": code.group,
                    "feature": code.feature,
                    "attribute": attribute.key,
                    "value": value,
                    "text": text,
                    "contribution": round(row_contribution[j], 4),
                }
            )
        out.append(reasons)
    return out


def reason_frequencies(
    raw: np.ndarray, features: np.ndarray, by_group: np.ndarray, policy: ReasonPolicy
) -> dict[tuple[str, str], dict[str, int]]:
    """Per (code, attribute): how often it was given as a reason, and how often a favourable
    attribute had a positive contribution and was therefore not stated (for the model card)."""
    counts = {
        (r.code, a.key): {"given": 0, "suppressed": 0} for r in REASON_CODES for a in r.attributes
    }
    measured = measure(raw, features, policy)
    for reasons in _select(measured, by_group):
        for reason in reasons:
            counts[(reason["code"], reason["attribute"])]["given"] += 1
    favourable = ~ADVERSE[_CODES, measured.index]
    for i, j in zip(*np.nonzero((by_group >= MIN_CONTRIBUTION) & favourable), strict=True):
        counts[(REASON_CODES[j].code, measured.key(int(i), int(j)))]["suppressed"] += 1
    return counts


class _Value(float):
    """A number for the templates: `str.format` specs plus `{x:month}` (0 -> September,
    1 -> August, ...) and `{x:delay}` (a repayment delay: "1 month", "2 months", and "9 or
    more months" for status 9)."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec == "month":
            return MONTHS[int(self)]
        if spec == "delay":
            months = int(self)
            if months >= 9:
                return "9 or more months"
            return f"{months} month" if months == 1 else f"{months} months"
        return float.__format__(self, spec)
