"""Helpers of the feature-store tests: fresh Feast repositories in temporary folders, made
from the project's own feature_store.yaml (or its configuration for another online store,
with that store's server started here), and small data files cut from the shared CSV."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd

from bankrisk.feature_store.materialize import Materialized, materialize
from helpers.gcp_emulators import (
    BackgroundServer,
    bigtable_emulator,
    datastore_emulator,
    redis_server,
)

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


# The online stores beside SQLite: feature_repo/feature_store.<name>.yaml, and the server the
# tests start for each (helpers.gcp_emulators).
ONLINE_STORES = ("bigtable", "datastore", "redis")
# The emulators accept any project; the Datastore one serves only the project it was started for.
EMULATED_PROJECT = "bankrisk-test"


def new_store_repo(directory: Path, store: str) -> Path:
    """An empty repository whose online store is `store` (the project's own configuration
    for it, copied as the folder's feature_store.yaml)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = PROJECT_REPO / f"feature_store.{store}.yaml"
    shutil.copy(config, directory / "feature_store.yaml")
    return directory


def start_store_server(store: str) -> tuple[BackgroundServer, dict[str, str]]:
    """The server of `store`, running, and the environment that points the project's
    configuration for it there (for the test process and the processes it starts)."""
    if store == "bigtable":
        server = bigtable_emulator(EMULATED_PROJECT)
        env = {"GOOGLE_CLOUD_PROJECT": EMULATED_PROJECT, "BIGTABLE_EMULATOR_HOST": server.host}
    elif store == "datastore":
        server = datastore_emulator(EMULATED_PROJECT)
        env = {"GOOGLE_CLOUD_PROJECT": EMULATED_PROJECT, "DATASTORE_EMULATOR_HOST": server.host}
    else:
        server = redis_server()
        env = {"BANKRISK_REDIS_HOST": "127.0.0.1", "BANKRISK_REDIS_PORT": str(server.port)}
    return server, env
