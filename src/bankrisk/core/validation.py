"""Customers' fields to a numpy matrix, with every problem named by record index and field.

The rules come from `bankrisk.schema` (the ranges the training data is validated against, and
which fields are optional) and are written once here, as values (`field_error`) and as
columns (`in_range`): the API, the portfolio scorer and the training-data checks all apply
these. The common case (every record well formed) is checked column by column; only when
something is wrong does a per-record pass collect all the messages. Which fields are required
depends on the models that score (`InputRules`): the OPTIONAL ones (the protected attributes,
EDUCATION) only when a model scores them; absent (or null) they are NaN in the matrix, which
no feature of such a model reads. Refusals are `InvalidRecordsError`, a domain error: the web
adapter turns it into its 422.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypedDict

import numpy as np

from bankrisk.errors import BankRiskError
from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES, FIELDS, OPTIONAL, required_fields

__all__ = [
    "DEFAULT_RULES",
    "MAXIMUM",
    "MAX_CUSTOMER_ID_LENGTH",
    "MINIMUM",
    "NOT_INTEGER",
    "CheckedRows",
    "FieldError",
    "InputRules",
    "InvalidRecordsError",
    "check_records",
    "customer_id_error",
    "field_error",
    "input_rules",
    "refuse",
    "validate_one",
    "validate_records",
]


class FieldError(TypedDict):
    """One problem with one field: `index` is the record's position in a batch (else None)."""

    index: int | None
    field: str | None
    message: str


class InvalidRecordsError(BankRiskError):
    """Records that cannot be scored: a summary and the problems, each naming its field."""

    def __init__(self, summary: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.errors = errors or []


CUSTOMER_ID = "customer_id"
MAX_CUSTOMER_ID_LENGTH = 64
MAX_ERRORS = 100
_ALLOWED = frozenset(FIELD_NAMES) | {CUSTOMER_ID}
MINIMUM = np.array([f.minimum for f in FIELDS])
MAXIMUM = np.array([f.maximum for f in FIELDS])
NOT_INTEGER = np.array([not f.integer for f in FIELDS])
_NUMBER_TYPES = (int, float)
_NUMBER_TYPE_SET = frozenset(_NUMBER_TYPES)
_DICT = frozenset({dict})
_STR = frozenset({str})
_ID_TYPES = frozenset({str, type(None)})
_NO_ID = object()  # a record without a key (not the same as the key with null)
_GET_ID = operator.methodcaller("get", CUSTOMER_ID, _NO_ID)
# Each field's values of many records, a key absent as _NO_ID (C-level `map` passes).
_GETTERS = tuple(operator.methodcaller("get", name, _NO_ID) for name in FIELD_NAMES)
# An optional field's column may hold numbers, nulls and absent keys.
_OPTIONAL_TYPE_SET = _NUMBER_TYPE_SET | {type(None), object}
_MISSING_INPUT = "field required: an input of the model"


@dataclass(frozen=True)
class InputRules:
    """Which fields a customer must carry (the model's inputs) and which may be absent."""

    required: frozenset[str]
    # Per field, in FIELD_NAMES order: (name, minimum, maximum, integer, optional).
    rules: tuple[tuple[str, float, float, bool, bool], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rules = tuple(
            (f.name, f.minimum, f.maximum, f.integer, f.name not in self.required) for f in FIELDS
        )
        object.__setattr__(self, "rules", rules)

    def optional(self, name: str) -> bool:
        return name not in self.required

    def missing_message(self, name: str) -> str:
        """Why an absent required field is refused (an optional one the model uses, named)."""
        return _MISSING_INPUT if name in OPTIONAL else "field required"


@lru_cache(maxsize=16)
def input_rules(*feature_sets: FeatureSet | None) -> InputRules:
    """The rules of the models that score a request (the champion and a challenger): a field
    is required when any of them uses it (AGE with `use_age`, EDUCATION with `use_education`)."""
    inputs = {
        name
        for features in feature_sets
        if features is not None
        for name, used in (("AGE", features.use_age), ("EDUCATION", features.use_education))
        if used
    }
    return InputRules(frozenset(required_fields(inputs)))


DEFAULT_RULES = input_rules(FeatureSet())  # the default model: no optional field is an input


def field_error(spec_index: int, value: Any) -> str | None:
    """Why `value` is not valid for the field `FIELDS[spec_index]`; None when it is."""
    spec = FIELDS[spec_index]
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        return f"must be a number, got {type(value).__name__}"
    try:
        number = float(value)
    except OverflowError:
        return "number too large"
    if not math.isfinite(number):
        return "must be a finite number"
    if not spec.minimum <= number <= spec.maximum:
        return f"must be between {spec.minimum:g} and {spec.maximum:g}, got {value}"
    if spec.integer and not number.is_integer():
        return f"must be a whole number, got {value}"
    return None


def customer_id_error(value: Any) -> str | None:
    """Why `value` is not a valid customer id (absent is valid); None when it is."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CUSTOMER_ID_LENGTH:
        return f"must be a string of 1 to {MAX_CUSTOMER_ID_LENGTH} characters"
    return None


def record_errors(
    record: Any, index: int | None, rules: InputRules = DEFAULT_RULES
) -> list[FieldError]:
    """Every problem with one record, each naming the field and why (an optional field
    absent or null is no problem; given, it is checked like any other)."""

    def error(field: str | None, message: str) -> FieldError:
        return {"index": index, "field": field, "message": message}

    if not isinstance(record, dict):
        return [error(None, f"must be a JSON object, got {type(record).__name__}")]
    errors = [error(name, "unknown field") for name in record if name not in _ALLOWED]
    for j, spec in enumerate(FIELDS):
        value = record.get(spec.name)
        if value is None and rules.optional(spec.name):
            continue
        if spec.name not in record or (value is None and spec.name in OPTIONAL):
            errors.append(error(spec.name, rules.missing_message(spec.name)))
        elif (message := field_error(j, record[spec.name])) is not None:
            errors.append(error(spec.name, message))
    if (message := customer_id_error(record.get(CUSTOMER_ID))) is not None:
        errors.append(error(CUSTOMER_ID, message))
    return errors


# Valid records as a matrix (rows in FIELD_NAMES order) and their customer ids.
CheckedRows = tuple[np.ndarray, list[str | None]]


def _fast_matrix(records: list[Any], rules: InputRules) -> CheckedRows | None:
    """The matrix if every record is valid, else None (then `record_errors` explains).

    Column-wise, in C-level passes (`map`, `set`, `list.count`) and numpy, rather than a
    Python loop per record (see docs/performance.md). An optional field absent or null is NaN.
    """
    if not set(map(type, records)) <= _DICT:
        return None
    n = len(records)
    ids = list(map(_GET_ID, records))
    without_id = ids.count(_NO_ID)
    keys = n - without_id  # the keys every valid record holds, counted field by field
    matrix = np.empty((n, len(FIELD_NAMES)), dtype=np.float64, order="F")
    for j, (_name, _low, _high, _integer, optional) in enumerate(rules.rules):
        column = list(map(_GETTERS[j], records))
        kinds = set(map(type, column))  # types, not isinstance: a bool must be refused
        unknown = 0
        if not kinds <= _NUMBER_TYPE_SET:
            if not optional or not kinds <= _OPTIONAL_TYPE_SET:
                return None
            absent = column.count(_NO_ID)
            unknown = absent + column.count(None)
            keys -= absent
            column = [None if v is _NO_ID else v for v in column]
        keys += n
        try:
            matrix[:, j] = np.array(column, dtype=np.float64)  # None is NaN
        except OverflowError:
            return None
        # A NaN given as a number (not a null) is refused, as in `field_error`.
        if optional and int(np.isnan(matrix[:, j]).sum()) != unknown:
            return None
    # Every record holds only known keys exactly when the key counts add up.
    if sum(map(len, records)) != keys:
        return None
    # NaN fails both comparisons and infinities fail one: the bounds check finiteness too.
    # Unknown optional values (NaN) are let through by `_unknown`.
    unknown_ok = _unknown(matrix, rules)
    ok = (((matrix >= MINIMUM) & (matrix <= MAXIMUM)) | unknown_ok).all() and (
        (matrix == np.floor(matrix)) | NOT_INTEGER | unknown_ok
    ).all()
    if not ok:
        return None
    if without_id:
        ids = [None if i is _NO_ID else i for i in ids]
    return (matrix, ids) if _ids_valid(ids) else None


def _unknown(matrix: np.ndarray, rules: InputRules) -> np.ndarray | bool:
    """Where a value is unknown and may be (an optional field's NaN); False when none is."""
    optional = np.array([rule[4] for rule in rules.rules])
    if not optional.any():
        return False
    nan: np.ndarray = np.isnan(matrix) & optional
    return nan if nan.any() else False


def _ids_valid(ids: list[Any]) -> bool:
    """Every id is None or a string of 1 to MAX_CUSTOMER_ID_LENGTH characters."""
    kinds = set(map(type, ids))
    if not kinds <= _ID_TYPES:
        return False
    strings = ids if kinds == _STR else [i for i in ids if i is not None]
    if not strings:
        return True
    return min(map(len, strings)) > 0 and max(map(len, strings)) <= MAX_CUSTOMER_ID_LENGTH


def validate_one(body: Any, rules: InputRules = DEFAULT_RULES) -> tuple[list[float], str | None]:
    """One customer's fields as floats in FIELD_NAMES order (NaN for an optional field absent
    or null), and its id; or InvalidRecordsError.

    Plain Python for the common case: for one record, numpy's per-call overhead would cost
    more than the checks themselves. Anything wrong goes through `record_errors` for the
    messages.
    """
    if type(body) is dict and rules.required <= body.keys() <= _ALLOWED:
        values: list[float] = []
        get = body.get
        for name, minimum, maximum, integer, optional in rules.rules:
            value: Any = get(name)
            kind = type(value)  # bool is an int subclass and must be refused: no isinstance
            if kind is int:
                if not minimum <= value <= maximum:  # exact, even for huge ints
                    break
                values.append(float(value))
            elif kind is float:
                # NaN fails both comparisons and infinities one: finiteness is checked too.
                if not minimum <= value <= maximum or (integer and not value.is_integer()):
                    break
                values.append(value)
            elif value is None and optional:
                values.append(math.nan)
            else:
                break
        else:
            customer_id = get(CUSTOMER_ID)
            if customer_id_error(customer_id) is None:
                return values, customer_id
    if not isinstance(body, dict):
        raise InvalidRecordsError("body must be a JSON object of one customer's fields")
    raise refuse(record_errors(body, None, rules), indexed=False)


def check_records(
    records: list[Any], offset: int = 0, indexed: bool = True, rules: InputRules = DEFAULT_RULES
) -> CheckedRows | list[FieldError]:
    """Rows in FIELD_NAMES order and customer ids, or every problem (indexed from
    `offset`, so that a batch can be checked in slices)."""
    fast = _fast_matrix(records, rules)
    if fast is not None:
        return fast
    errors: list[FieldError] = []
    for i, record in enumerate(records):
        errors.extend(record_errors(record, offset + i if indexed else None, rules))
    if not errors:  # cannot happen: the fast path refuses only records with an error
        raise InvalidRecordsError("invalid records")
    return errors


def refuse(errors: list[FieldError], indexed: bool = True) -> InvalidRecordsError:
    """The refusal of these problems: a count, and the first MAX_ERRORS listed."""
    bad_records = len({e["index"] for e in errors})
    summary = (
        f"{len(errors)} invalid field(s) in {bad_records} record(s)"
        if indexed
        else f"{len(errors)} invalid field(s)"
    )
    if len(errors) > MAX_ERRORS:
        summary += f"; the first {MAX_ERRORS} are listed"
    return InvalidRecordsError(summary, errors[:MAX_ERRORS])


def validate_records(
    records: list[Any], *, indexed: bool = True, rules: InputRules = DEFAULT_RULES
) -> CheckedRows:
    """Rows in FIELD_NAMES order and customer ids, or InvalidRecordsError listing the errors."""
    checked = check_records(records, 0, indexed, rules)
    if isinstance(checked, list):
        raise refuse(checked, indexed)
    return checked
