"""Customers' fields to a numpy matrix, with every problem named by record index and field.

The rules come from `bankrisk.schema` (the ranges the training data is validated against) and
are written once here, as values (`field_error`) and as columns (`in_range`): the API, the
portfolio scorer and the training-data checks all apply these. The common case (every record
well formed) is checked column by column; only when something is wrong does a per-record
pass collect all the messages. Refusals are `InvalidRecordsError`, a domain error: the web adapter
turns it into its 422.
"""

from __future__ import annotations

import math
import operator
from itertools import chain
from typing import Any, TypedDict

import numpy as np

from bankrisk.errors import BankRiskError
from bankrisk.schema import FIELD_NAMES, FIELDS

__all__ = [
    "MAXIMUM",
    "MAX_CUSTOMER_ID_LENGTH",
    "MINIMUM",
    "NOT_INTEGER",
    "CheckedRows",
    "FieldError",
    "InvalidRecordsError",
    "check_records",
    "customer_id_error",
    "field_error",
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
_REQUIRED = frozenset(FIELD_NAMES)
_ALLOWED = _REQUIRED | {CUSTOMER_ID}
MINIMUM = np.array([f.minimum for f in FIELDS])
MAXIMUM = np.array([f.maximum for f in FIELDS])
NOT_INTEGER = np.array([not f.integer for f in FIELDS])
_NUMBER_TYPES = (int, float)
_NUMBER_TYPE_SET = frozenset(_NUMBER_TYPES)
_DICT = frozenset({dict})
_STR = frozenset({str})
_ID_TYPES = frozenset({str, type(None)})
_GET_FIELDS = operator.itemgetter(*FIELD_NAMES)  # a record's values as a tuple, in order
_NO_ID = object()  # a record without a customer_id key (not the same as "customer_id": null)
_GET_ID = operator.methodcaller("get", CUSTOMER_ID, _NO_ID)
# The same rules as plain Python values, for the one-customer fast path.
_RULES = tuple((f.name, f.minimum, f.maximum, f.integer) for f in FIELDS)


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


def record_errors(record: Any, index: int | None) -> list[FieldError]:
    """Every problem with one record, each naming the field and why."""

    def error(field: str | None, message: str) -> FieldError:
        return {"index": index, "field": field, "message": message}

    if not isinstance(record, dict):
        return [error(None, f"must be a JSON object, got {type(record).__name__}")]
    errors = [error(name, "unknown field") for name in record if name not in _ALLOWED]
    for j, spec in enumerate(FIELDS):
        if spec.name not in record:
            errors.append(error(spec.name, "field required"))
        elif (message := field_error(j, record[spec.name])) is not None:
            errors.append(error(spec.name, message))
    if (message := customer_id_error(record.get(CUSTOMER_ID))) is not None:
        errors.append(error(CUSTOMER_ID, message))
    return errors


# Valid records as a matrix (rows in FIELD_NAMES order) and their customer ids.
CheckedRows = tuple[np.ndarray, list[str | None]]


def _fast_matrix(records: list[Any]) -> CheckedRows | None:
    """The matrix if every record is valid, else None (then `record_errors` explains).

    Column-wise, in C-level passes (`map`, `set`, `itemgetter`) and numpy, rather than a
    Python loop per record (see docs/performance.md).
    """
    if not set(map(type, records)) <= _DICT:
        return None
    try:
        rows = list(map(_GET_FIELDS, records))  # a KeyError: a required field is missing
    except KeyError:
        return None
    ids = list(map(_GET_ID, records))
    without_id = ids.count(_NO_ID)
    # Every record holds the required fields (above), and the id when it has one: it has no
    # other key exactly when the key counts add up.
    if sum(map(len, records)) != len(records) * (len(FIELD_NAMES) + 1) - without_id:
        return None
    values = list(chain.from_iterable(rows))
    # Types, not isinstance: bool is an int subclass and must be refused.
    if not set(map(type, values)) <= _NUMBER_TYPE_SET:
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(len(records), len(FIELD_NAMES))
    except OverflowError:
        return None
    # NaN fails both comparisons and infinities fail one: the bounds check finiteness too.
    ok = (
        (matrix >= MINIMUM).all()
        and (matrix <= MAXIMUM).all()
        and ((matrix == np.floor(matrix)) | NOT_INTEGER).all()
    )
    if not ok:
        return None
    if without_id:
        ids = [None if i is _NO_ID else i for i in ids]
    return (matrix, ids) if _ids_valid(ids) else None


def _ids_valid(ids: list[Any]) -> bool:
    """Every id is None or a string of 1 to MAX_CUSTOMER_ID_LENGTH characters."""
    kinds = set(map(type, ids))
    if not kinds <= _ID_TYPES:
        return False
    strings = ids if kinds == _STR else [i for i in ids if i is not None]
    if not strings:
        return True
    return min(map(len, strings)) > 0 and max(map(len, strings)) <= MAX_CUSTOMER_ID_LENGTH


def validate_one(body: Any) -> tuple[list[float], str | None]:
    """One customer's fields as floats in FIELD_NAMES order, and its id; or InvalidRecordsError.

    Plain Python for the common case: for one record, numpy's per-call overhead would cost
    more than the checks themselves. Anything wrong goes through `record_errors` for the
    messages.
    """
    if type(body) is dict and _REQUIRED <= body.keys() <= _ALLOWED:
        values: list[float] = []
        for name, minimum, maximum, integer in _RULES:
            value = body[name]
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
            else:
                break
        else:
            customer_id = body.get(CUSTOMER_ID)
            if customer_id_error(customer_id) is None:
                return values, customer_id
    if not isinstance(body, dict):
        raise InvalidRecordsError("body must be a JSON object of one customer's fields")
    raise refuse(record_errors(body, None), indexed=False)


def check_records(
    records: list[Any], offset: int = 0, indexed: bool = True
) -> CheckedRows | list[FieldError]:
    """Rows in FIELD_NAMES order and customer ids, or every problem (indexed from
    `offset`, so that a batch can be checked in slices)."""
    fast = _fast_matrix(records)
    if fast is not None:
        return fast
    errors: list[FieldError] = []
    for i, record in enumerate(records):
        errors.extend(record_errors(record, offset + i if indexed else None))
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


def validate_records(records: list[Any], *, indexed: bool = True) -> CheckedRows:
    """Rows in FIELD_NAMES order and customer ids, or InvalidRecordsError listing the errors."""
    checked = check_records(records, 0, indexed)
    if isinstance(checked, list):
        raise refuse(checked, indexed)
    return checked
