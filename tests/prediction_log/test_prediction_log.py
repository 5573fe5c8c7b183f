"""The prediction log store on real SQLite and a real PostgreSQL server: tables, round trip,
time windows, pseudonymisation, idempotent outcomes, pruning, clear errors for bad URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    Progress,
    open_store,
    pseudonym,
)
from bankrisk.schema import FIELD_NAMES
from helpers.log_rows import prediction_row, prediction_values, row_of


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("pg_url"))


def store_at(url: str, **kwargs: object) -> PredictionStore:
    store = open_store(url, **kwargs)  # type: ignore[arg-type]
    assert store is not None
    return store


def test_off_disables_the_log() -> None:
    assert open_store("off") is None
    assert open_store(" OFF ") is None


def test_the_writers_sqlite_store_writes_ahead_without_an_fsync_a_commit(tmp_path: Path) -> None:
    """The writer process's store (`wal=True`): WAL, synchronous=NORMAL, and SQLite's own
    checkpoints (1,000 pages: 10,000 made its fsyncs stall the service, docs/performance.md)."""
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}", wal=True)
    connection = store.engine.raw_connection()
    try:
        pragmas = [
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "wal_autocheckpoint")
        ]
    finally:
        connection.close()
    assert pragmas == ["wal", 1, 1000]


def test_tables_columns_and_indexes(url: str) -> None:
    store = store_at(url)
    inspector = inspect(store.engine)
    columns = {c["name"] for c in inspector.get_columns("predictions")}
    assert set(FIELD_NAMES) <= columns
    assert {
        "request_id",
        "time",
        "model_name",
        "model_version",
        "model_role",
        "customer_id",
        "pd",
        "score",
        "grade",
        "decision",
        "reason_codes",
        "latency_ms",
    } <= columns
    indexed = {c for ix in inspector.get_indexes("predictions") for c in ix["column_names"]}
    assert {"time", "customer_id"} <= indexed
    assert {c["name"] for c in inspector.get_columns("outcomes")} == {
        "customer_id",
        "defaulted",
        "source",
        "ingested_at",
    }


def test_round_trip_and_time_window(url: str) -> None:
    store = store_at(url)
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    values = [prediction_values(i, when=start + timedelta(hours=i)) for i in range(10)]
    rows = [row_of(v) for v in values]
    assert store.insert_predictions(rows) == 10
    got = store.read_predictions()
    assert [r["request_id"] for r in got] == [f"req-{i}" for i in range(10)]
    first = got[0]
    assert first["time"] == start and first["time"].tzinfo is not None
    assert first["LIMIT_BAL"] == values[0]["LIMIT_BAL"]
    assert first["reason_codes"] == [{"code": "R01", "text": "late"}]
    assert first["customer_id"] == "1000" and first["model_role"] == "champion"
    window = store.read_predictions(start + timedelta(hours=2), start + timedelta(hours=5))
    assert [r["request_id"] for r in window] == ["req-2", "req-3", "req-4"]
    # A window given in another time zone is the same instants.
    other = timezone_plus(start + timedelta(hours=2), 5)
    assert len(store.read_predictions(other, None)) == 8


def timezone_plus(when: datetime, hours: int) -> datetime:
    from datetime import timezone

    return when.astimezone(timezone(timedelta(hours=hours)))


def test_pseudonymised_ids_are_salted_hashes_and_still_join(url: str) -> None:
    store = store_at(url, pseudonymise=True, salt="s3cret")
    store.insert_predictions([prediction_row(1), prediction_row(2)])
    ids = [r["customer_id"] for r in store.read_predictions()]
    assert ids == [pseudonym("1001", "s3cret"), pseudonym("1002", "s3cret")]
    assert "1001" not in ids and len(ids[0]) == 64
    assert pseudonym("1001", "other") != ids[0]
    counts = store.upsert_outcomes([("1001", 1), (1002.0, 0), ("9", 1)], "f.csv")
    assert counts["matched"] == 2 and counts["unmatched"] == 1
    assert store.read_outcomes()[pseudonym("1001", "s3cret")] == 1


def test_pseudonymise_without_a_salt_is_refused() -> None:
    with pytest.raises(PredictionLogError, match="BANKRISK_PREDICTION_LOG_SALT"):
        open_store("sqlite://", pseudonymise=True, salt="")


def test_outcomes_ingest_is_idempotent(url: str) -> None:
    store = store_at(url)
    store.insert_predictions([prediction_row(i) for i in range(5)])
    flags = [(str(1000 + i), i % 2) for i in range(5)] + [("77", 1)]
    first = store.upsert_outcomes(flags, "a.csv")
    assert first == {
        "rows": 6,
        "inserted": 6,
        "updated": 0,
        "unchanged": 0,
        "matched": 5,
        "unmatched": 1,
    }
    before = store.read_outcomes()
    again = store.upsert_outcomes(flags, "a.csv")
    assert again["inserted"] == 0 and again["updated"] == 0 and again["unchanged"] == 6
    assert store.read_outcomes() == before
    fixed = store.upsert_outcomes([("1000", 1)], "b.csv")
    assert fixed["updated"] == 1 and store.read_outcomes()["1000"] == 1


def test_prune_deletes_old_rows_and_orphan_outcomes(url: str) -> None:
    store = store_at(url)
    now = datetime.now(UTC)
    store.insert_predictions(
        [prediction_row(i, when=now - timedelta(days=100 - i * 10)) for i in range(10)]
    )
    store.upsert_outcomes([("1000", 1), ("1009", 0)], "x.csv")
    store.insert_records([], [Progress("a service process", 10)])
    # Older than 45 days: rows 0..5 (100..50 days old); outcomes are newer: kept.
    counted = store.prune(45, now=now, dry_run=True)
    assert (counted.predictions, counted.outcomes) == (6, 0)
    assert len(store.read_predictions()) == 10  # a dry run deletes nothing
    assert store.prune(45, now=now) == counted
    assert len(store.read_predictions()) == 4 and store.rows_in("a service process") == 10
    # A year on, everything is old: the predictions go, then the outcomes left without one.
    later = now + timedelta(days=365)
    counted = store.prune(45, now=later, dry_run=True)
    assert (counted.predictions, counted.outcomes) == (4, 2)
    assert store.prune(45, now=later) == counted
    assert store.read_outcomes() == {} and store.read_predictions() == []
    assert store.rows_in("a service process") == 0  # its session is forgotten too
    with pytest.raises(PredictionLogError, match="older-than"):
        store.prune(-1)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "not a SQLAlchemy URL"),
        ("nosuchdb://x/y", "unsupported database"),
        ("postgresql+pg8000://u:hunter2@127.0.0.1:1/db", "cannot open the prediction log"),
        ("sqlite:////nonexistent/dir/x.db", "cannot open the prediction log"),
    ],
)
def test_bad_urls_fail_with_one_clear_message(url: str, fragment: str) -> None:
    with pytest.raises(PredictionLogError) as info:
        open_store(url, connect_timeout=2)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert "hunter2" not in message
