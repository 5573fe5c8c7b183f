"""Which reasons are stated, and in what order: one rule for every model family.

A reason is stated when both hold:
- the characteristic raised this customer's logit against the baseline: its contribution
  (`by_group`: scorecard points, tree Saabas or MLP gradient x input, summed over its
  features, minus the mean contribution over the good-risk reference population) is served as
  positive (`_raised`: rounded to CONTRIBUTION_DIGITS decimals, it is not 0.0);
- the attribute is adverse. Favourable or neutral attributes (paid in full, never late, bills
  paid, a limit that is not low, a falling or steady balance, payments that are not small) are
  never stated as a reason for a decline, even when the model scores them above the good
  payers' mean: that would be true to the arithmetic but not a reason a customer can read as
  one (Regulation B asks for the specific reasons the application counted against them).
Reasons are ranked by contribution, largest first (ties in REASON_CODES order), at most
`MAX_REASONS`. A batch (`select_reasons`, `reason_indices`) works on numpy arrays and fills
each (code, attribute)'s texts in bulk; one row (`select_reasons_row`, a single request) is
plain Python, with the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from bankrisk.features.ops import COLUMNS, ROW, Num
from bankrisk.features.reasons.attributes import Measured, evaluate, measure
from bankrisk.features.reasons.catalogue import (
    N_ATTRIBUTES,
    REASON_CODES,
    Attribute,
    ReasonCode,
)
from bankrisk.features.reasons.policy import MAX_REASONS, ReasonPolicy
from bankrisk.features.reasons.texts import TEMPLATES

# Contributions are served in logit points to this many decimals (`Ops.rounded`); one that
# is served as 0.0 is no reason.
CONTRIBUTION_DIGITS = 4
_SCALE = 10.0**CONTRIBUTION_DIGITS
_CODES = np.arange(len(REASON_CODES))
_CODE_RANGE = range(len(REASON_CODES))
_SLOTS = np.arange(MAX_REASONS)  # the columns of `reason_indices`
# ADVERSE[j, a]: attribute a of reason code j may be stated (padded with False).
ADVERSE = np.array(
    [
        [a.adverse for a in r.attributes] + [False] * (N_ATTRIBUTES - len(r.attributes))
        for r in REASON_CODES
    ]
)
_ADVERSE_ROWS: list[list[bool]] = ADVERSE.tolist()


class Reason(TypedDict):
    """One stated reason, as the API returns it."""

    code: str
    group: str
    feature: str
    attribute: str
    value: str
    text: str
    contribution: float


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


# _STATED[j][a] states attribute a of REASON_CODES[j].
_STATED = tuple(tuple(_stating(r, a) for a in r.attributes) for r in REASON_CODES)


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
    same attributes (`attributes.evaluate`), eligibility (`_eligible`) and order as a batch's."""
    cut = policy.low_credit_limit
    index, values = evaluate(raw, features, cut, ROW)
    chosen = [j for j in _CODE_RANGE if _eligible(by_group[j], _ADVERSE_ROWS[j][index[j]])]
    chosen.sort(key=lambda j: by_group[j], reverse=True)  # stable: ties in REASON_CODES order
    reasons: list[Reason] = []
    for j in chosen[:MAX_REASONS]:
        a = index[j]
        value, text = TEMPLATES[j][a].one(values[j], cut)
        contribution = ROW.rounded(by_group[j], CONTRIBUTION_DIGITS)
        reasons.append(_STATED[j][a](value, text, contribution))
    return reasons


def _select(measured: Measured, by_group: np.ndarray) -> list[list[Reason]]:
    """The reasons of `reason_indices`, with their texts and rounded contributions."""
    chosen = reason_indices(measured.index, by_group)
    stated = chosen >= 0
    # Every stated reason, row by row and largest first within a row (row-major order).
    rows, slots = np.nonzero(stated)
    codes = chosen[rows, slots]
    attributes = measured.index[rows, codes]
    # Rounded in bulk with numpy, the same rounding as `ROW.rounded` of one row.
    contributions = COLUMNS.rounded(by_group[rows, codes], CONTRIBUTION_DIGITS)
    # Grouped by (code, attribute), each group's texts filled in bulk by its one template.
    keys = codes * N_ATTRIBUTES + attributes
    order = np.argsort(keys, kind="stable")
    ends = np.flatnonzero(np.diff(keys[order])) + 1
    grouped: list[Reason] = []
    for group in np.split(order, ends) if len(order) else []:
        j, a = divmod(int(keys[group[0]]), N_ATTRIBUTES)
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


@dataclass(frozen=True)
class StatedColumns:
    """The reasons of n rows slot by slot, for columnar output (a portfolio file): slot k is
    each row's k-th reason, largest contribution first. `codes` (n, MAX_REASONS) indexes
    `REASON_CODES` and `attributes` that code's attributes, both -1 where a row has fewer
    reasons; `values` and `texts` (MAX_REASONS, n) object arrays of str, None there;
    `contributions` (n, MAX_REASONS) rounded as the API serves them, NaN there."""

    codes: np.ndarray
    attributes: np.ndarray
    values: np.ndarray
    texts: np.ndarray
    contributions: np.ndarray


def stated_columns(measured: Measured, by_group: np.ndarray) -> StatedColumns:
    """`select_reasons`' reasons as columns (`StatedColumns`): the same rule
    (`reason_indices`), texts and rounding, without a dict per reason."""
    chosen = reason_indices(measured.index, by_group)
    rows, slots = np.nonzero(chosen >= 0)
    codes = chosen[rows, slots]
    attributes = np.full_like(chosen, -1)
    attributes[rows, slots] = measured.index[rows, codes]
    contributions = np.full(chosen.shape, np.nan)
    contributions[rows, slots] = COLUMNS.rounded(by_group[rows, codes], CONTRIBUTION_DIGITS)
    values = np.full((MAX_REASONS, len(chosen)), None, dtype=object)
    texts = np.full((MAX_REASONS, len(chosen)), None, dtype=object)
    # Grouped by (code, attribute), each group's texts filled in bulk by its one template.
    keys = codes * N_ATTRIBUTES + attributes[rows, slots]
    order = np.argsort(keys, kind="stable")
    ends = np.flatnonzero(np.diff(keys[order])) + 1
    for group in np.split(order, ends) if len(order) else []:
        j, a = divmod(int(keys[group[0]]), N_ATTRIBUTES)
        filled_values, filled_texts = measured.fill(j, a, rows[group])
        where = (slots[group], rows[group])
        values[where] = filled_values
        texts[where] = filled_texts
    return StatedColumns(chosen, attributes, values, texts, contributions)


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
