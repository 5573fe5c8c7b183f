"""Helpers of the feature-store tests (imported as `feature_store.support`): fresh Feast
repositories in temporary folders, made from the project's own feature_store.yaml, and small
data files cut from the shared CSV."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd

from bankrisk.feature_store.materialize import Materialized, materialize

PROJECT_REPO = Path(__file__).resolve().parents[2] / "feature_repo"


def new_repo(directory: Path) -> Path:
    """An empty repository: the project's feature_store.yaml, nothing materialized."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_REPO / "feature_store.yaml", directory / "feature_store.yaml")
    return directory


def head_csv(source: Path, rows: int, dest: Path, **changes: float) -> Path:
    """The first `rows` rows of `source` (a CSV), with `changes` multiplying columns."""
    frame = pd.read_csv(source, nrows=rows)
    for column, factor in changes.items():
        frame[column] = frame[column] * factor
    frame.to_csv(dest, index=False)
    return dest


def materialized(directory: Path, data: Path, as_of: datetime | None = None) -> Materialized:
    """A new repository in `directory` with `data` materialized at `as_of`."""
    return materialize(new_repo(directory), data, as_of)
