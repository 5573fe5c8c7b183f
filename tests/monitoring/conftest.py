"""Fixtures of the monitoring tests: a private PostgreSQL server per session, a fresh database
per test, and logged prediction rows."""

from __future__ import annotations

from collections.abc import Iterator

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
