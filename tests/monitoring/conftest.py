"""Fixtures of the monitoring tests: a private PostgreSQL server per session, a fresh database
per test, and logged prediction rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    if not _running(postgres):
        postgres.start()
    return postgres.create_database()


def _running(server: PostgresServer) -> bool:
    proc = server._run("pg_ctl", "-D", str(server.data), "status", check=False)
    return proc.returncode == 0


@pytest.fixture(scope="session")
def small_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real bundle (tests/factories) with reference distributions of its training
    rows, as training writes them."""
    from bankrisk.monitoring.reference import reference_profiles
    from bankrisk.schema import FIELD_NAMES
    from factories import make_bundle, make_raw

    bundle = make_bundle()
    raw, _ = make_raw(3000, seed=5)
    names = [f["name"] for f in bundle.describe()["features"]]
    features = bundle.features(raw)
    bundle.metadata["reference_distributions"] = reference_profiles(
        {
            **{name: raw[:, j] for j, name in enumerate(FIELD_NAMES)},
            **{f"feature:{n}": features[:, i] for i, n in enumerate(names)},
            "probability_of_default": bundle.predict_pd(raw),
        }
    )
    bundle.metadata["data_fingerprint"]["dev_rows"] = 3000
    directory = tmp_path_factory.mktemp("small-bundle")
    bundle.save(directory)
    return directory
