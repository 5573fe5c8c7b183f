"""Data files as feature-store snapshots: the project's loader and validator, then the
layout Feast's offline source reads (customer_id as text, event_timestamp, the 23 fields)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.errors import DataError
from bankrisk.feature_store import JOIN_KEY, TIMESTAMP
from bankrisk.schema import FIELD_NAMES, ID_COLUMN

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
    try:
        clean = validate_frame(loaded, require_target=False)
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
    return snapshot
