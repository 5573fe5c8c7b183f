"""Protected attributes from a separate file, for a fairness review of logged decisions.

Scoring never needs SEX, MARRIAGE, AGE or EDUCATION (unless the model scores one), so the log
may hold them for some customers only. A bank that keeps them elsewhere (Regulation B allows
collecting them for self-testing, apart from the credit decision) joins them here, by
customer id: `bankrisk monitor performance --demographics FILE`. The file is `customer_id`
plus any of the attributes, CSV or Parquet; its ids are pseudonymised as the log's are
(`PredictionStore.customer_key`), and a value it gives takes precedence over the log's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bankrisk.errors import DataError
from bankrisk.schema import FAIRNESS_ATTRIBUTES, FIELDS_BY_NAME

CUSTOMER_ID = "customer_id"
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class Demographics:
    """Each customer's attributes (NaN where the file gives none), by the log's customer key."""

    source: str
    keys: pd.Index
    values: Mapping[str, np.ndarray]  # attribute -> values aligned with `keys`

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.values)

    def applied(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`chunk` (with `customer_id`, the log's keys) with the file's values in place of the
        log's wherever the file has one."""
        position = self.keys.get_indexer(pd.Index(chunk[CUSTOMER_ID]))
        found = position >= 0
        out = dict(chunk)
        for name, values in self.values.items():
            given = np.full(position.shape[0], np.nan)
            given[found] = values[position[found]]
            logged = chunk.get(name)
            out[name] = given if logged is None else np.where(np.isnan(given), logged, given)
        return out


def load_demographics(path: Path, key: Callable[[object], str | None]) -> Demographics:
    """The file at `path` with each id turned into the log's key (`key`); DataError (one line,
    naming the column) if it cannot be used."""
    frame = _read(path)
    if CUSTOMER_ID not in frame.columns:
        raise DataError(f"--demographics {path}: no {CUSTOMER_ID} column (the join key)")
    attributes = [name for name in FAIRNESS_ATTRIBUTES if name in frame.columns]
    if not attributes:
        raise DataError(
            f"--demographics {path}: none of the columns {', '.join(FAIRNESS_ATTRIBUTES)}"
        )
    ids = frame[CUSTOMER_ID]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 1
        raise DataError(f"--demographics {path}: column {CUSTOMER_ID}: empty in row {row}")
    keys = pd.Index([key(_as_id(i)) for i in ids])
    if keys.has_duplicates:
        repeated = keys[keys.duplicated()][0]
        raise DataError(f"--demographics {path}: column {CUSTOMER_ID}: ids repeat ({repeated!r})")
    values = {name: _checked(path, name, frame[name]) for name in attributes}
    return Demographics(str(path), keys, values)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"--demographics {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"--demographics {path}: unsupported file type {suffix or '(none)'!r} "
            f"(expected {' or '.join(SUFFIXES)})"
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype={CUSTOMER_ID: str})
        return pd.read_parquet(path)
    except Exception as exc:  # any reader's failure is the file's: one line, no traceback
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(f"--demographics {path}: cannot be read ({text})") from None


def _as_id(value: object) -> str:
    """An id as text: a whole number read as a float (7.0) is the id 7."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _checked(path: Path, name: str, column: pd.Series) -> np.ndarray:
    """The column as floats (empty: NaN), or DataError naming the column, row and why."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    spec = FIELDS_BY_NAME[name]
    bad = ~np.isnan(numbers) & ~spec.valid(numbers)
    bad |= np.isnan(numbers) & column.notna().to_numpy()  # a text that is no number
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"--demographics {path}: column {name}: {int(bad.sum())} invalid values, e.g. "
            f"{column.iloc[row]!r} in row {row + 1} (valid: {spec.minimum:g} to "
            f"{spec.maximum:g}{', whole numbers' if spec.integer else ''})"
        )
    return numbers
