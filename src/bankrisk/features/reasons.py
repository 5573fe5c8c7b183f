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

The attributes are defined once (`_attributes`) and evaluated with numpy over columns for a
batch (`measure`) or in plain Python for one row (`select_reasons_row`, a single request), bit
for bit alike (`features.ops`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from string import Formatter
from typing import Any, TypedDict, cast

import numpy as np

from bankrisk.features.engineering import FEATURE_INDEX, FeatureSet, feature_groups
from bankrisk.features.ops import COLUMNS, ROW, Num, Ops, total
from bankrisk.schema import FIELD_NAMES, PAY_AMOUNTS

MAX_REASONS = 4
# Contributions are served in logit points to this many decimals (`Ops.rounded`); one that
# is served as 0.0 is no reason.
CONTRIBUTION_DIGITS = 4
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
_R01_BY_STATUS = (2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_R09_BY_FULL = (2, 1, 1, 1, 1, 1, 3)
# R03 below 0: credit balance; below LOW_USE: low use; below HIGH_USE: moderate; else high.
_USE_EDGES = (0.0, LOW_USE, HIGH_USE)
# R06 falling when the change is <= -TREND_STEP, rising when >= TREND_STEP, else steady.
_TREND_EDGES = (math.nextafter(-TREND_STEP, math.inf), TREND_STEP)


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
_CODES = np.arange(len(REASON_CODES))
_CODE_RANGE = range(len(REASON_CODES))
_BY_CODE = operator.itemgetter(*(r.code for r in REASON_CODES))  # a {code: x} in code order
_SCALE = 10.0**CONTRIBUTION_DIGITS
_SLOTS = np.arange(MAX_REASONS)  # the columns of `reason_indices`
# ADVERSE[j, a]: attribute a of reason code j may be stated (padded with False).
_N_ATTRIBUTES = max(len(r.attributes) for r in REASON_CODES)
ADVERSE = np.array(
    [
        [a.adverse for a in r.attributes] + [False] * (_N_ATTRIBUTES - len(r.attributes))
        for r in REASON_CODES
    ]
)
_ADVERSE_ROWS: list[list[bool]] = ADVERSE.tolist()


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

    def key(self, i: int, j: int) -> str:
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
        formatted in bulk (`_Template`) from Python numbers: formatting a Python float is
        done in C, a numpy scalar is not (matters for a large batch)."""
        template = TEMPLATES[j][attribute_index]
        values = self.values[j]
        columns = [
            [self.cut] * len(rows) if name == "cut" else values[name][rows].tolist()
            for name, _ in template.args
        ]
        return template.fill(columns, len(rows))


def _attributes(
    raw: Sequence[Num], f: Sequence[Num], cut: float, ops: Ops
) -> tuple[list[Num], list[dict[str, Num]]]:
    """The one definition of the attributes: for raw fields in FIELD_NAMES order and their
    features (`build_features`), columns or one row (`features.ops`), the attribute index of
    each characteristic and the named values its templates use, in REASON_CODES order. The
    attributes are read from the very values the model sees (utilisation, payment ratio,
    counts)."""
    where = ops.where
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
        # September's status -2..9 -> no use, paid in full, revolving, late x 9.
        "R01": ops.lookup(_R01_BY_STATUS, sep + 2),
        # Late in any month, else revolving in any of the five months before, else neither.
        "R02": where(late > 0, 0, 2 - (revolving > 0)),
        # The mean utilisation over six months.
        "R03": ops.bin(_USE_EDGES, mean_use),
        # Bills with nothing paid, else the mean payment ratio.
        "R04": where(missed > 0, 0, 1 + (ratio >= PAID_RATIO)),
        # At or below the low cut, or not.
        "R05": where(limit > cut, 1, 0),
        # Utilisation in April (BILL_AMT6) against September (BILL_AMT1).
        "R06": ops.bin(_TREND_EDGES, end - start),
        # Nothing paid in six months, or the mean monthly payment.
        "R07": where(mean_paid != 0, 1, 0),
        # Months without use (-2), else how many months were paid in full (-1).
        "R09": where(no_use > 0, 0, ops.lookup(_R09_BY_FULL, full)),
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
        "R09": {"no_use": no_use, "full": full},
    }  # fmt: skip
    return list(_BY_CODE(index)), list(_BY_CODE(values))


def measure(raw: np.ndarray, features: np.ndarray, policy: ReasonPolicy) -> Measured:
    """The attribute of every characteristic for raw rows (n, 23) in FIELD_NAMES order and
    their features (`build_features(raw, ...)`), with numpy over columns."""
    cut = policy.low_credit_limit
    columns, values = _attributes(list(raw.T), list(features.T), cut, COLUMNS)
    index = np.empty((raw.shape[0], len(REASON_CODES)), dtype=np.intp)
    for j, column in enumerate(columns):
        index[:, j] = column
    return Measured(index, tuple(values), cut)


def select_reasons(
    raw: np.ndarray, features: np.ndarray, by_group: np.ndarray, policy: ReasonPolicy
) -> list[list[Reason]]:
    """Up to `MAX_REASONS` reasons per row, largest contribution first: the characteristics
    whose contribution against the baseline (`by_group`, (n, len(REASON_CODES))) is positive
    and whose attribute for this customer is adverse."""
    return _select(measure(raw, features, policy), by_group)


def select_reasons_row(
    raw: Sequence[float], features: Sequence[float], by_group: Sequence[float], policy: ReasonPolicy
) -> list[Reason]:
    """`select_reasons` of one row, in plain Python (floats in, the same reasons out): the
    same attributes (`_attributes`), eligibility (`_eligible`) and order as a batch's."""
    cut = policy.low_credit_limit
    index, values = _attributes(raw, features, cut, ROW)
    chosen = [j for j in _CODE_RANGE if _eligible(by_group[j], _ADVERSE_ROWS[j][index[j]])]
    chosen.sort(key=lambda j: by_group[j], reverse=True)  # stable: ties in REASON_CODES order
    reasons: list[Reason] = []
    for j in chosen[:MAX_REASONS]:
        a = index[j]
        value, text = TEMPLATES[j][a].one(values[j], cut)
        contribution = ROW.rounded(by_group[j], CONTRIBUTION_DIGITS)
        reasons.append(_STATED[j][a](value, text, contribution))
    return reasons


def _raised(contribution: Num) -> Num:
    """Whether a contribution is served as positive (at least 0.0001): x * 10**4 is above
    one half, since `Ops.rounded` rounds half to even (0.5 to 0)."""
    return contribution * _SCALE > 0.5


def _eligible(contribution: Num, adverse: Num) -> Num:
    """Whether a code may be stated: it raised the logit against the baseline, and the
    customer's attribute is adverse."""
    return _raised(contribution) & adverse


def reason_indices(attribute_index: np.ndarray, by_group: np.ndarray) -> np.ndarray:
    """Which reasons each row states, columnar: an (n, MAX_REASONS) int array of indices into
    `REASON_CODES`, largest contribution first, padded with -1. A code is eligible when its
    contribution (`by_group`) is positive and the row's attribute (`Measured.index`) adverse;
    ties keep the REASON_CODES order. The one selection rule: `_select` formats its texts."""
    eligible = _eligible(by_group, ADVERSE[_CODES, attribute_index])
    # Ineligible codes sort last; a stable sort keeps ties in REASON_CODES order.
    order = np.argsort(np.where(eligible, -by_group, np.inf), axis=1, kind="stable")
    # The eligible codes come first: a row's first `count` columns (fewer numpy calls than
    # take_along_axis, which matters for a single request).
    count = np.add.reduce(eligible, axis=1, keepdims=True)
    return np.where(count > _SLOTS, order[:, :MAX_REASONS], -1)


def _select(measured: Measured, by_group: np.ndarray) -> list[list[Reason]]:
    chosen = reason_indices(measured.index, by_group)
    stated = chosen >= 0
    # Every stated reason, row by row and largest first within a row (row-major order).
    rows, slots = np.nonzero(stated)
    codes = chosen[rows, slots]
    attributes = measured.index[rows, codes]
    contributions = COLUMNS.rounded(by_group[rows, codes], CONTRIBUTION_DIGITS)
    # Grouped by (code, attribute), each group's texts filled in bulk by its one template.
    keys = codes * _N_ATTRIBUTES + attributes
    order = np.argsort(keys, kind="stable")
    ends = np.flatnonzero(np.diff(keys[order])) + 1
    grouped: list[Reason] = []
    for group in np.split(order, ends) if len(order) else []:
        j, a = divmod(int(keys[group[0]]), _N_ATTRIBUTES)
        values, texts = measured.fill(j, a, rows[group])
        grouped += map(_STATED[j][a], values, texts, contributions[group].tolist())
    # Back in row-major order, then cut into rows.
    made = [grouped[k] for k in np.argsort(order).tolist()]
    out: list[list[Reason]] = []
    begin = 0
    for count in np.add.reduce(stated, axis=1).tolist():
        out.append(made[begin : begin + count])
        begin += count
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
    for i, j in zip(*np.nonzero(_raised(by_group) & favourable), strict=True):
        counts[(REASON_CODES[j].code, measured.key(int(i), int(j)))]["suppressed"] += 1
    return counts


def _month(value: float) -> str:
    """`{x:month}`: 0 -> September, 1 -> August, ..."""
    return MONTHS[int(value)]


def _delay(value: float) -> str:
    """`{x:delay}`: a repayment delay, "1 month", "2 months", and "9 or more months" for
    status 9."""
    months = int(value)
    if months >= 9:
        return "9 or more months"
    return f"{months} month" if months == 1 else f"{months} months"


# The templates' own specs, besides those of `format`.
_CUSTOM_SPECS: dict[str, Callable[[float], str]] = {"month": _month, "delay": _delay}
# Named values that take few distinct values (counts, statuses, months, and credit limits,
# in round thousands in practice; and the low-limit cut): the texts of an attribute that uses
# only these are cached by value (bounded by `_CACHE_LIMIT`).
_DISCRETE = frozenset(
    {"status", "late", "worst", "recent", "revolving", "missed", "no_use", "full", "limit", "cut"}
)
_CACHE_LIMIT = 4096
_Texts = list[tuple[str, str]]  # (value, text) of each row


class _Template:
    """An attribute's value and text templates, compiled once: each distinct (named value,
    spec) of the two is a piece (`args`), formatted once per row, in C (`format`) unless it
    has a custom spec; the two templates become %-strings over the pieces. A batch's texts
    of one attribute are a few `map`s, and texts made only of discrete values are cached."""

    def __init__(self, attribute: Attribute) -> None:
        self.args: list[tuple[str, str]] = []  # (name, spec): the pieces, in order
        self.value, self._value_at = self._compile(attribute.value)
        self.text, self._text_at = self._compile(attribute.text)
        self.constant = (self.value % (), self.text % ()) if not self.args else None
        self.cached = all(name in _DISCRETE for name, _ in self.args)
        self._cache: dict[tuple[float, ...], tuple[str, str]] = {}

    def _compile(self, template: str) -> tuple[str, tuple[int, ...]]:
        """The %-string, and which piece fills each of its `%s`."""
        parts, at = [], []
        for literal, name, spec, conversion in Formatter().parse(template):
            parts.append(literal.replace("%", "%%"))
            if name is None:
                continue
            assert conversion is None, f"no conversions in reason templates: {template!r}"
            piece = (name, spec or "")
            if piece not in self.args:
                self.args.append(piece)
            at.append(self.args.index(piece))
            parts.append("%s")
        return "".join(parts), tuple(at)

    def _pieces(self, columns: list[list[float]]) -> list[list[str]]:
        """Each piece's text for every row, from each piece's column of values."""
        return [
            list(map(_CUSTOM_SPECS[spec], column))
            if spec in _CUSTOM_SPECS
            else list(map(format, column, repeat(spec)))
            for (_, spec), column in zip(self.args, columns, strict=True)
        ]

    def fill(self, columns: list[list[float]], count: int) -> tuple[list[str], list[str]]:
        """Values and texts of `count` rows, `columns` holding each piece's values."""
        if self.constant is not None:
            return [self.constant[0]] * count, [self.constant[1]] * count
        if not self.cached:
            pieces = self._pieces(columns)
            return (
                _substitute(self.value, [pieces[k] for k in self._value_at], count),
                _substitute(self.text, [pieces[k] for k in self._text_at], count),
            )
        keys = list(zip(*columns, strict=True))
        known = list(map(self._cache.get, keys))  # one C-level pass when all are known
        found = list(map(self._lookup, keys)) if None in known else cast(_Texts, known)
        return [value for value, _ in found], [text for _, text in found]

    def one(self, named: dict[str, Num], cut: float) -> tuple[str, str]:
        """`fill` of one row, `named` holding its values."""
        if self.constant is not None:
            return self.constant
        key = tuple([cut if name == "cut" else named[name] for name, _ in self.args])
        return self._lookup(key) if self.cached else self._format_one(key)

    def _lookup(self, key: tuple[float, ...]) -> tuple[str, str]:
        """The cached value and text of `key` (the pieces' values), formatted when first seen."""
        found = self._cache.get(key)
        if found is None:
            found = self._format_one(key)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = found
        return found

    def _format_one(self, key: tuple[float, ...]) -> tuple[str, str]:
        pieces = [
            _CUSTOM_SPECS[spec](v) if spec in _CUSTOM_SPECS else format(v, spec)
            for (_, spec), v in zip(self.args, key, strict=True)
        ]
        return (
            self.value % tuple(pieces[k] for k in self._value_at),
            self.text % tuple(pieces[k] for k in self._text_at),
        )


def _substitute(template: str, pieces: list[list[str]], count: int) -> list[str]:
    """`template` (a %-string) filled with each row's pieces (one list per `%s`)."""
    if not pieces:
        return [template % ()] * count
    return list(map(template.__mod__, zip(*pieces, strict=True)))


def _stating(reason: ReasonCode, attribute: Attribute) -> Callable[[str, str, float], Reason]:
    """The function that states `attribute` of `reason` as a Reason, given its value, text
    and contribution (rounded to CONTRIBUTION_DIGITS decimals; the fixed fields bound once)."""
    code, group, feature, key = reason.code, reason.group, reason.feature, attribute.key

    def stated(value: str, text: str, contribution: float) -> Reason:
        return {
            "code": code,
            "group": group,
            "feature": feature,
            "attribute": key,
            "value": value,
            "text": text,
            "contribution": contribution,
        }

    return stated


# TEMPLATES[j][a]: attribute a of REASON_CODES[j], compiled; _STATED[j][a] states it.
TEMPLATES = tuple(tuple(_Template(a) for a in r.attributes) for r in REASON_CODES)
_STATED = tuple(tuple(_stating(r, a) for a in r.attributes) for r in REASON_CODES)
