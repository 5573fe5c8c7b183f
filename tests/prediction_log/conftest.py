"""Fixtures of the prediction log's tests: a PostgreSQL server of the test's own, which it may
stop and start (the session's shared server, `pg_url`, must stay up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.postgres import PostgresServer


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    pg = PostgresServer()  # started by its constructor
    try:
        yield pg
    finally:
        pg.destroy()
