"""Request bodies to a numpy matrix, with every problem named by record index and field.

The API validates JSON itself rather than through pydantic: a 10,000-record batch must be
checked in milliseconds. The common case (every record well formed) runs column by column;
only when something is wrong does a per-record pass collect all the messages. The rules come
from `bankrisk.schema`, the same ranges the training data is validated against.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

from bankrisk.schema import FIELD_NAMES, FIELDS

CUSTOMER_ID = "customer_id"
MAX_CUSTOMER_ID_LENGTH = 64
MAX_ERRORS = 100
_REQUIRED = frozenset(FIELD_NAMES)
_ALLOWED = _REQUIRED | {CUSTOMER_ID}
_MINIMUM = np.array([f.minimum for f in FIELDS])
_MAXIMUM = np.array([f.maximum for f in FIELDS])
_NOT_INTEGER = np.array([not f.integer for f in FIELDS])
_NUMBER_TYPES = (int, float)


class RequestError(Exception):
    """A request the API refuses: the HTTP status, a summary, and field-level errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def parse_json(body: bytes) -> Any:
    """Parse a JSON body. Non-standard NaN/Infinity literals are parsed (and then refused by
    field), so that the error names the field rather than calling the whole body malformed."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"malformed JSON body: {exc}") from None


def _field_error(spec_index: int, value: Any) -> str | None:
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


def _customer_id_error(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CUSTOMER_ID_LENGTH:
        return f"must be a string of 1 to {MAX_CUSTOMER_ID_LENGTH} characters"
    return None


def record_errors(record: Any, index: int | None) -> list[dict[str, Any]]:
    """Every problem with one record, each naming the field and why."""

    def error(field: str | None, message: str) -> dict[str, Any]:
        return {"index": index, "field": field, "message": message}

    if not isinstance(record, dict):
        return [error(None, f"must be a JSON object, got {type(record).__name__}")]
    errors = [error(name, "unknown field") for name in record if name not in _ALLOWED]
    for j, spec in enumerate(FIELDS):
        if spec.name not in record:
            errors.append(error(spec.name, "field required"))
        elif (message := _field_error(j, record[spec.name])) is not None:
            errors.append(error(spec.name, message))
    if (message := _customer_id_error(record.get(CUSTOMER_ID))) is not None:
        errors.append(error(CUSTOMER_ID, message))
    return errors


def _fast_matrix(records: list[Any]) -> tuple[np.ndarray, list[str | None]] | None:
    """The matrix if every record is valid, else None (then `record_errors` explains)."""
    if not all(type(r) is dict and _REQUIRED <= r.keys() <= _ALLOWED for r in records):
        return None
    values = [r[name] for r in records for name in FIELD_NAMES]
    # `type(v) in` rather than isinstance: bool is an int subclass and must be refused.
    if not all(type(v) in _NUMBER_TYPES for v in values):
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(len(records), len(FIELD_NAMES))
    except OverflowError:
        return None
    # NaN fails both comparisons and infinities fail one: the bounds check finiteness too.
    ok = (
        (matrix >= _MINIMUM).all()
        and (matrix <= _MAXIMUM).all()
        and ((matrix == np.floor(matrix)) | _NOT_INTEGER).all()
    )
    if not ok:
        return None
    ids = [r.get(CUSTOMER_ID) for r in records]
    if any(_customer_id_error(i) is not None for i in ids if i is not None):
        return None
    return matrix, ids


def validate_records(
    records: list[Any], *, indexed: bool = True
) -> tuple[np.ndarray, list[str | None]]:
    """Rows in FIELD_NAMES order and customer ids, or RequestError(422) listing errors."""
    fast = _fast_matrix(records)
    if fast is not None:
        return fast
    errors: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        errors.extend(record_errors(record, i if indexed else None))
    if not errors:  # cannot happen: the fast path refuses only records with an error
        raise RequestError(422, "invalid records")
    bad_records = len({e["index"] for e in errors})
    summary = (
        f"{len(errors)} invalid field(s) in {bad_records} record(s)"
        if indexed
        else (f"{len(errors)} invalid field(s)")
    )
    if len(errors) > MAX_ERRORS:
        summary += f"; the first {MAX_ERRORS} are listed"
    raise RequestError(422, summary, errors[:MAX_ERRORS])
