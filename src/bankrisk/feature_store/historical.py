"""Training frames from the store: Feast's point-in-time join (`get_historical_features`)
of an entities file (customer ids, times, labels) with the snapshots in the offline store.

Each entity row gets the customer's latest snapshot at or before its time and within the
TTL, so a label observed in November is joined to the fields known then, never to later ones.
The result is a `TrainingData`, exactly what `bankrisk train --data FILE` trains on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from bankrisk.data.load import file_fingerprint, load_dataset, normalise_columns
from bankrisk.data.training_data import TrainingData
from bankrisk.data.validate import validate_frame
from bankrisk.errors import DataError
from bankrisk.feature_store import FEATURE_VIEW, JOIN_KEY, TIMESTAMP
from bankrisk.feature_store.repo import open_store
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET

_ROW = "__entity_row"
_EXAMPLES = 5


def _read_table(path: Path) -> pd.DataFrame:
    """The entities file as read by the project's loader, with every column kept."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"Cannot read {path}: entities must be a .csv or .parquet file")
    load_dataset(path)  # the loader's checks: missing, empty, unreadable file
    frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    frame.columns = pd.Index(normalise_columns(list(frame.columns)))
    return frame


def read_entities(path: Path) -> pd.DataFrame:
    """customer_id (text), event_timestamp (UTC) and the label of each row; DataError naming
    the column and why."""
    frame = _read_table(path)
    if JOIN_KEY not in frame.columns and ID_COLUMN in frame.columns:
        frame = frame.rename(columns={ID_COLUMN: JOIN_KEY})
    absent = [c for c in (JOIN_KEY, TIMESTAMP, TARGET) if c not in frame.columns]
    if absent:
        raise DataError(
            f"{path}: missing required column(s) {', '.join(absent)} (entities need "
            f"{JOIN_KEY} or {ID_COLUMN}, {TIMESTAMP} and the label {TARGET!r})"
        )
    ids = frame[JOIN_KEY]
    if ids.isna().any():
        raise DataError(f"{path}: column {JOIN_KEY}: {int(ids.isna().sum())} rows missing")
    ids = ids.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    times = pd.to_datetime(frame[TIMESTAMP], errors="coerce", utc=True)
    bad = times.isna()
    if bad.any():
        examples = ", ".join(repr(v) for v in frame.loc[bad, TIMESTAMP].head(3))
        raise DataError(
            f"{path}: column {TIMESTAMP}: {int(bad.sum())} rows are not times (e.g. {examples})"
        )
    return pd.DataFrame({JOIN_KEY: ids.str.strip(), TIMESTAMP: times, TARGET: frame[TARGET]})


def _content_sha256(raw: np.ndarray, labels: np.ndarray) -> str:
    table = np.hstack([raw, labels.reshape(-1, 1).astype(np.float64)]) + 0.0
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<f8").tobytes()).hexdigest()


def _joined(repo: Path, entities: pd.DataFrame) -> pd.DataFrame:
    store = open_store(repo)
    entity_df = entities[[JOIN_KEY, TIMESTAMP]].assign(**{_ROW: np.arange(len(entities))})
    try:
        job = store.get_historical_features(
            entity_df=entity_df, features=[f"{FEATURE_VIEW}:{name}" for name in FIELD_NAMES]
        )
        job_frame: pd.DataFrame = job.to_df()
    except Exception as exc:  # no registry or view, unreadable snapshots, ...
        message = " ".join(str(exc).split())[:300]
        raise DataError(
            f"feature repository {repo}: the point-in-time join failed "
            f"({type(exc).__name__}: {message}); run `bankrisk features materialize` first"
        ) from None
    # Feast reorders rows and may drop those it finds nothing for: back to the file's order.
    joined: pd.DataFrame = job_frame.set_index(_ROW).reindex(np.arange(len(entities)))
    unmatched = joined[list(FIELD_NAMES)].isna().any(axis=1).to_numpy()
    if unmatched.any():
        examples = ", ".join(entities.loc[unmatched, JOIN_KEY].head(_EXAMPLES))
        raise DataError(
            f"{int(unmatched.sum())} entity rows have no features in the store at or before "
            f"their {TIMESTAMP} within the TTL (customer ids {examples}, ...)"
        )
    return joined


def training_data(repo: Path, entities_path: Path) -> TrainingData:
    """The validated training frame built by Feast's point-in-time join; DataError if an
    entity row finds no features or the result fails the same checks as a data file."""
    entities = read_entities(entities_path)
    joined = _joined(repo, entities)
    frame = pd.DataFrame({ID_COLUMN: entities[JOIN_KEY].to_numpy()})
    for name in FIELD_NAMES:
        frame[name] = joined[name].to_numpy()
    frame[TARGET] = entities[TARGET].to_numpy()
    if entities[JOIN_KEY].duplicated().any():  # customers at several times: ids repeat
        frame = frame.drop(columns=ID_COLUMN)
    try:
        frame = validate_frame(frame, require_target=True)
    except DataError as exc:
        raise DataError(f"{entities_path} joined with {repo}: {exc}") from None
    raw = frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64)
    labels = frame[TARGET].to_numpy(dtype=np.int64)
    return TrainingData(
        raw=raw,
        labels=labels,
        frame=frame,
        fingerprint={
            "file": entities_path.name,
            "size_bytes": entities_path.stat().st_size,
            # Of the joined rows (23 fields and label), not of a file: the same entities can
            # join to other values once new snapshots are materialized.
            "sha256": _content_sha256(raw, labels),
            "rows": int(labels.size),
            "columns": int(frame.shape[1]),
            "positive_rate": float(labels.mean()),
            "source": f"feast:{FEATURE_VIEW} (point-in-time join)",
            "entities_sha256": file_fingerprint(entities_path),
        },
    )
