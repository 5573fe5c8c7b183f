"""Reason codes that are true of the customer: characteristics, attributes and their texts.

A reason is a **characteristic** (a reason group of features, `engineering.feature_groups`)
together with the customer's **attribute** of it: the bin their own raw values fall in, such as
UTILIZATION "high" (average balance at least half the credit limit) or RECENT_STATUS "late".
Every text is a template filled with values computed from the customer's raw fields only, the
same fields the characteristic's features are computed from, so it is true by construction.

One job per module:
- `catalogue`: the reason codes, their attributes (each with a stable key) and templates;
- `policy`: what reasons are measured against (the good-risk baseline, the low credit limit)
  and how many are stated, as stored in the bundle;
- `attributes`: the rules that choose each customer's attribute of every code, by key, for
  columns (`measure`) or one row, bit for bit alike (`features.ops`);
- `selection`: which reasons are stated and in what order (`select_reasons`,
  `select_reasons_row`, `reason_indices`), and how often (`reason_frequencies`);
- `texts`: an attribute's value and text, its templates filled with the customer's values.
"""

from __future__ import annotations

from bankrisk.features.reasons.attributes import (
    HIGH_USE,
    LOW_USE,
    PAID_RATIO,
    TREND_STEP,
    Measured,
    evaluate,
    measure,
)
from bankrisk.features.reasons.catalogue import (
    ATTRIBUTE_INDEX,
    REASON_CODES,
    Attribute,
    ReasonCode,
    reason_group_matrix,
)
from bankrisk.features.reasons.policy import BASELINE_POPULATION, MAX_REASONS, ReasonPolicy
from bankrisk.features.reasons.selection import (
    ADVERSE,
    CONTRIBUTION_DIGITS,
    Reason,
    reason_frequencies,
    reason_indices,
    select_reasons,
    select_reasons_row,
)
from bankrisk.features.reasons.texts import MONTHS, TEMPLATES

__all__ = [
    "ADVERSE",
    "ATTRIBUTE_INDEX",
    "BASELINE_POPULATION",
    "CONTRIBUTION_DIGITS",
    "HIGH_USE",
    "LOW_USE",
    "MAX_REASONS",
    "MONTHS",
    "PAID_RATIO",
    "REASON_CODES",
    "TEMPLATES",
    "TREND_STEP",
    "Attribute",
    "Measured",
    "Reason",
    "ReasonCode",
    "ReasonPolicy",
    "evaluate",
    "measure",
    "reason_frequencies",
    "reason_group_matrix",
    "reason_indices",
    "select_reasons",
    "select_reasons_row",
]
