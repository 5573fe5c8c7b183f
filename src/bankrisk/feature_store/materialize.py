"""`bankrisk features materialize`: a data file into the offline store (one Parquet snapshot),
then Feast's own `apply` and `materialize` into the online store."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bankrisk.errors import DataError
from bankrisk.feature_store import FEATURE_VIEW, OFFLINE_DIR, FeatureStoreError
from bankrisk.feature_store.frame import snapshot_frame
from bankrisk.feature_store.repo import (
    check_repo,
    feast_reads,
    feast_writes,
    offline_store_type,
    open_store,
)


@dataclass(frozen=True)
class Materialized:
    customers: int
    as_of: datetime
    snapshot: Path  # the offline Parquet written
    seconds: float


def snapshot_path(repo: Path, as_of: datetime) -> Path:
    """One file per as-of time: materializing the same time again replaces it."""
    return repo / OFFLINE_DIR / f"snapshot-{as_of:%Y%m%dT%H%M%S%fZ}.parquet"


def materialize(repo: Path, data: Path, as_of: datetime | None = None) -> Materialized:
    """Validate `data`, write it as the snapshot at `as_of` (aware; default now, UTC), register
    the entity and feature view, and load the online store with each customer's latest row
    from `as_of` on (a later snapshot already loaded stays the one served)."""
    start = time.perf_counter()
    now = datetime.now(UTC)
    as_of = (as_of or now).astimezone(UTC)
    if as_of > now:
        raise DataError(f"--as-of {as_of.isoformat()} is in the future")
    check_repo(repo)
    frame = snapshot_frame(data, as_of)
    with feast_reads():
        store = open_store(repo)
    kind = offline_store_type(store)
    if kind != "file":
        raise FeatureStoreError(
            f"offline store type {kind!r}: `bankrisk features materialize` writes the file "
            "(Parquet) offline store; load the table with your warehouse's tools, then run "
            "`feast materialize` (see README, Feature store)"
        )
    target = snapshot_path(repo, as_of)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")  # not a *.parquet: Feast skips it
    frame.to_parquet(partial, index=False)
    os.replace(partial, target)

    from bankrisk.feature_store.definitions import OBJECTS

    # Rows from `as_of` on: this snapshot and any later one (Feast keeps each customer's latest).
    end = max(now, as_of) + timedelta(seconds=1)
    with feast_writes():
        store.apply(OBJECTS)
        store.materialize(start_date=as_of, end_date=end, feature_views=[FEATURE_VIEW])
    return Materialized(len(frame), as_of, target, time.perf_counter() - start)
