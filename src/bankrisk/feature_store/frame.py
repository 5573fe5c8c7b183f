"""Data files as feature-store snapshots: the project's loader and validator, then the
layout Feast's offline source reads (customer_id as text, event_timestamp, the 23 fields).

The OPTIONAL fields (the protected attributes, EDUCATION) may be absent from the file, or
empty for some customers: they are stored without a value (null), and scoring by id leaves
them out as a request would. Values given are validated like the other fields."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.errors import DataError
from bankrisk.feature_store import JOIN_KEY, TIMESTAMP
from bankrisk.schema import FIELD_NAMES, FIELDS_BY_NAME, ID_COLUMN, OPTIONAL

# The API accepts customer ids of 1 to 64 characters (serving.validation): a longer id could
# be stored but never asked for.
MAX_ID_LENGTH = 64


def snapshot_frame(path: Path, as_of: datetime) -> pd.DataFrame:
    """The file's customers as of `as_of` (aware UTC); DataError naming the column if bad."""
    loaded = load_dataset(path)
    if ID_COLUMN not in loaded.columns:
        raise DataError(
            f"{path}: missing required column {ID_COLUMN}: the feature store is keyed by "
            f"customer id ({ID_COLUMN} becomes {JOIN_KEY})"
        )
    stand_in, unknown = _with_optional_filled(loaded)
    try:
        clean = validate_frame(stand_in, require_target=False)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    ids = clean[ID_COLUMN].astype(str).str.strip()
    too_long = ids.str.len() > MAX_ID_LENGTH
    empty = ids.str.len() == 0
    if too_long.any() or empty.any():
        raise DataError(
            f"{path}: column {ID_COLUMN}: {int(too_long.sum() + empty.sum())} ids are empty or "
            f"longer than {MAX_ID_LENGTH} characters (the API's limit), e.g. "
            f"{ids[too_long | empty].iloc[0]!r}"
        )
    if ids.duplicated().any():  # e.g. 7 and " 7" once stripped
        raise DataError(f"{path}: column {ID_COLUMN}: ids repeat once read as text")
    snapshot = pd.DataFrame({JOIN_KEY: ids, TIMESTAMP: pd.Timestamp(as_of)})
    for name in FIELD_NAMES:
        snapshot[name] = clean[name].astype("float64")
    for name, empty in unknown.items():
        snapshot[name] = snapshot[name].mask(empty.to_numpy())  # NaN: no value stored
    return snapshot


def _with_optional_filled(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The frame with each OPTIONAL field's empty cells (or absent column) filled with a valid
    stand-in so that the validator checks only the values given, and where they were empty."""
    filled = frame.copy()
    unknown: dict[str, pd.Series] = {}
    for name in OPTIONAL:
        stand_in = FIELDS_BY_NAME[name].minimum
        if name not in filled.columns:
            filled[name] = stand_in
            unknown[name] = pd.Series(True, index=filled.index)
            continue
        empty = filled[name].isna()
        if empty.any():
            filled[name] = filled[name].astype(object).mask(empty, stand_in)
            unknown[name] = empty
    return filled, unknown
