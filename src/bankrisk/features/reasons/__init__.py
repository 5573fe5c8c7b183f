"""Reason codes that are true of the customer: characteristics, attributes and their texts.

A reason is a **characteristic** (a reason group of features, `engineering.feature_groups`)
together with the customer's **attribute** of it: the bin their own raw values fall in, such as
UTILIZATION "high" (average balance at least half the credit limit) or RECENT_STATUS "late".
Every text is a template filled with values computed from the customer's raw fields only, the
same fields the characteristic's features are computed from, so it is true by construction.
Only adverse attributes are stated (`Attribute.adverse`), each worded as what counted against
the customer ("Low credit limit", "Growing balance", "Small payments"); an attribute that is
favourable or neutral (a limit that is not low, a falling balance) is never stated, even when
its characteristic raised the PD: the next adverse reason is taken instead.

One job per module:
- `catalogue`: the reason codes, their attributes (each with a stable key) and templates;
- `policy`: what reasons are measured against (the good-risk baseline, the low credit limit)
  and how many are stated, as stored in the bundle;
- `attributes`: the rules that choose each customer's attribute of every code, by key, for
  columns (`measure`) or one row, bit for bit alike (`features.ops`);
- `selection`: which reasons are stated and in what order (`select_reasons`,
  `select_reasons_row`, `reason_indices`; as columns for a file, `stated_columns`), and how
  often (`reason_frequencies`);
- `texts`: an attribute's value and text, its templates filled with the customer's values.
"""

from __future__ import annotations

from bankrisk.features.reasons.attributes import (
    HIGH_USE,
    LOW_USE,
    PAID_RATIO,
    SMALL_PAYMENT,
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
    StatedColumns,
    reason_frequencies,
    reason_indices,
    select_reasons,
    select_reasons_row,
    stated_columns,
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
    "SMALL_PAYMENT",
    "TEMPLATES",
    "TREND_STEP",
    "Attribute",
    "Measured",
    "Reason",
    "ReasonCode",
    "ReasonPolicy",
    "StatedColumns",
    "evaluate",
    "measure",
    "reason_frequencies",
    "reason_group_matrix",
    "reason_indices",
    "select_reasons",
    "select_reasons_row",
    "stated_columns",
]
