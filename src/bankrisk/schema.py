"""The UCI input schema: the 23 raw fields, their valid ranges, which are protected and
which are optional.

This module is the single source of truth for field names and ranges. The data validator,
the feature code and the serving request model all read it, so a range changes in one place.
It imports nothing but the standard library so that serving stays light.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

TARGET = "default payment next month"
ID_COLUMN = "ID"

PAY_STATUS = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
BILL_AMOUNTS = tuple(f"BILL_AMT{i}" for i in range(1, 7))
PAY_AMOUNTS = tuple(f"PAY_AMT{i}" for i in range(1, 7))

# Protected attributes: never model inputs by default, kept for fairness reports when given.
# AGE may be switched on as an input by configuration (Settings.use_age).
PROTECTED = ("SEX", "MARRIAGE", "AGE")

# Fields never required unless the model scores them: the protected attributes (Regulation B
# restricts when a creditor may even ask for sex and marital status) and EDUCATION (an input
# only with Settings.use_education). Absent, they are unknown: scored alike, logged as null.
OPTIONAL = ("SEX", "EDUCATION", "MARRIAGE", "AGE")

# The attributes a fairness review groups customers by (the log's columns, or a separate
# demographics file joined by customer id: `bankrisk monitor performance --demographics`).
FAIRNESS_ATTRIBUTES = ("SEX", "MARRIAGE", "AGE", "EDUCATION")


@dataclass(frozen=True)
class FieldSpec:
    """One raw input field with its valid range (inclusive) and a plain-language description."""

    name: str
    minimum: float
    maximum: float
    integer: bool
    description: str

    # The rule, once, for a value or a whole numpy column (elementwise; without importing
    # numpy). NaN fails every comparison, so an empty cell is neither in range nor whole.
    def in_range(self, values: Any) -> Any:
        return (values >= self.minimum) & (values <= self.maximum)

    def whole(self, values: Any) -> Any:
        return values % 1 == 0

    def valid(self, values: Any) -> Any:
        """In range and, for an integer field, whole."""
        ok = self.in_range(values)
        return ok & self.whole(values) if self.integer else ok


# Amounts are NT dollars. Bills can be negative (a credit balance). Upper bounds are sanity
# limits far above anything in the data, so that a typo (an extra five zeros) is caught.
_MAX_AMOUNT = 1e8

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("LIMIT_BAL", 1, _MAX_AMOUNT, False, "Credit limit (NT dollars), must be > 0"),
    FieldSpec("SEX", 1, 2, True, "1 male, 2 female (protected: fairness reports only)"),
    FieldSpec(
        "EDUCATION",
        0,
        6,
        True,
        "1 graduate school, 2 university, 3 high school, 4 others; 0, 5, 6 undocumented",
    ),
    FieldSpec(
        "MARRIAGE",
        0,
        3,
        True,
        "1 married, 2 single, 3 others; 0 undocumented (protected: fairness reports only)",
    ),
    FieldSpec("AGE", 18, 100, True, "Age in years (protected: off as a model input by default)"),
    *(
        FieldSpec(
            name,
            -2,
            9,
            True,
            f"Repayment status {month}: -2 no consumption, -1 paid in full, "
            "0 revolving credit, 1..8 months late, 9 nine or more",
        )
        for name, month in zip(PAY_STATUS, ("Sep", "Aug", "Jul", "Jun", "May", "Apr"), strict=True)
    ),
    *(
        FieldSpec(name, -_MAX_AMOUNT, _MAX_AMOUNT, False, f"Bill statement amount {month} (NT$)")
        for name, month in zip(
            BILL_AMOUNTS, ("Sep", "Aug", "Jul", "Jun", "May", "Apr"), strict=True
        )
    ),
    *(
        FieldSpec(name, 0, _MAX_AMOUNT, False, f"Amount paid {month} (NT$), >= 0")
        for name, month in zip(PAY_AMOUNTS, ("Sep", "Aug", "Jul", "Jun", "May", "Apr"), strict=True)
    ),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}


def required_fields(model_inputs: Collection[str] = ()) -> tuple[str, ...]:
    """The fields every customer must carry, in FIELD_NAMES order: all but the OPTIONAL
    ones, plus those of them the model uses (`model_inputs`, e.g. AGE with use_age)."""
    return tuple(n for n in FIELD_NAMES if n not in OPTIONAL or n in model_inputs)
