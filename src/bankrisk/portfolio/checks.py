"""One chunk of input rows to a float matrix, with every bad row named: row, field, reason.

The API's rules (`core.validation`: schema ranges, whole numbers, finite values, ids of 1
to 64 characters) and its messages; text cells are converted as `data.validate` converts
them. An optional field's empty cell is unknown (NaN, as the API's absent field) unless the
model scores it (`InputRules`). Vectorised over the chunk: only rows that fail are looked at
one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankrisk.core.validation import (
    DEFAULT_RULES,
    MAX_CUSTOMER_ID_LENGTH,
    InputRules,
    customer_id_error,
    field_error,
)
from bankrisk.data.validate import to_numeric
from bankrisk.schema import FIELD_NAMES, FIELDS, OPTIONAL


@dataclass(frozen=True)
class Rejected:
    """A bad input row: its number (1 = the first data row), every (field, reason), and its
    cells as read (text, None when empty)."""

    row: int
    errors: list[tuple[str, str]]
    values: dict[str, str | None]


@dataclass(frozen=True)
class Checked:
    """A chunk's valid rows (m, 23) in FIELD_NAMES order, their ids (text, or None if the
    file has no id column) and the rejected rows."""

    raw: np.ndarray
    ids: pa.Array | None
    rejected: list[Rejected] = field(default_factory=list)


def _numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """float64 values, NaN where empty, and a mask of cells that are not numbers (None when
    every cell is a number or empty)."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = pc.cast(column, pa.float64()).to_numpy()
        return values, None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:  # the common case: every cell parses (in C++)
            return pc.cast(column, pa.float64()).to_numpy(), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers, _, bad = to_numeric(pd.Series(column.to_pylist(), dtype=object))
            return numbers.to_numpy(dtype=np.float64), bad.to_numpy(dtype=bool)
    # Booleans, dates, ...: refused, as the API refuses a JSON true for a number.
    return np.full(len(column), np.nan), np.asarray(column.is_valid())


def _cell_error(
    j: int, value: float, original: str | None, not_number: bool, rules: InputRules
) -> str | None:
    if not_number:
        return f"not a number: {original!r}"
    if np.isnan(value):
        name = FIELDS[j].name
        if rules.optional(name):
            return None
        return "missing value" + (" (an input of the model)" if name in OPTIONAL else "")
    return field_error(j, int(value) if value.is_integer() else value)


def _id_problems(ids: pa.Array) -> np.ndarray:
    """Rows whose id is present but not 1 to MAX_CUSTOMER_ID_LENGTH characters."""
    length = pc.utf8_length(ids)
    bad = pc.or_(pc.equal(length, 0), pc.greater(length, MAX_CUSTOMER_ID_LENGTH))
    return np.asarray(bad.fill_null(False))


def _as_text(value: object) -> str | None:
    return None if value is None else str(value)


def check_chunk(
    table: pa.Table, id_column: str | None, first_row: int, rules: InputRules = DEFAULT_RULES
) -> Checked:
    """Validate a chunk whose first row is row `first_row` of the file, for a model of
    `rules` (which fields it needs)."""
    n = table.num_rows
    # Column-major: each field is written and checked as one contiguous column.
    matrix = np.empty((n, len(FIELD_NAMES)), dtype=np.float64, order="F")
    good = np.ones(n, dtype=bool)
    not_numbers: dict[int, np.ndarray] = {}
    for j, name in enumerate(FIELD_NAMES):
        column = matrix[:, j]
        column[:], bad = _numbers(table.column(name))
        valid = FIELDS[j].valid(column)
        if rules.optional(name):  # an empty cell is unknown; a text that is no number is not
            valid |= np.isnan(column) if bad is None else np.isnan(column) & ~bad
        good &= valid
        if bad is not None:
            not_numbers[j] = bad
    ids = None
    if id_column is not None:
        ids = pc.cast(table.column(id_column), pa.string()).combine_chunks()
        good &= ~_id_problems(ids)
    if good.all():  # row-major, as the API's matrix: the same arithmetic, bit for bit
        return Checked(np.ascontiguousarray(matrix), ids)
    rejected = [
        _reject(table, matrix, not_numbers, id_column, int(i), first_row, rules)
        for i in np.flatnonzero(~good)
    ]
    keep = np.flatnonzero(good)
    valid = np.ascontiguousarray(matrix[keep])
    return Checked(valid, None if ids is None else ids.take(keep), rejected)


def _reject(
    table: pa.Table,
    matrix: np.ndarray,
    not_numbers: dict[int, np.ndarray],
    id_column: str | None,
    i: int,
    first_row: int,
    rules: InputRules,
) -> Rejected:
    cells = {name: _as_text(v) for name, v in table.slice(i, 1).to_pylist()[0].items()}
    errors: list[tuple[str, str]] = []
    for j, name in enumerate(FIELD_NAMES):
        not_number = bool(not_numbers[j][i]) if j in not_numbers else False
        message = _cell_error(j, float(matrix[i, j]), cells[name], not_number, rules)
        if message is not None:
            errors.append((name, message))
    if id_column is not None and (message := customer_id_error(cells[id_column])) is not None:
        errors.append((id_column, message))
    return Rejected(first_row + i, errors, cells)
