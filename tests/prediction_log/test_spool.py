"""The log writer's spool on disk: rows kept in order across reopening, its bounds, a full
disk; and the thread writer spooling while a real PostgreSQL is stopped, then replaying."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bankrisk.prediction_log.spool import Spool, SpoolFullError, SpoolLimits
from bankrisk.prediction_log.store import COLUMNS, Row, open_store
from bankrisk.prediction_log.thread_writer import PredictionLogWriter, WriterLimits
from helpers.log_rows import prediction_row
from helpers.postgres import PostgresServer
from helpers.tiny_disk import mount_tiny_disk, unmount

WAIT_S = 60.0


def row(i: int) -> Row:
    return prediction_row(i)


def spool_at(folder: Path, max_bytes: int = 10_000_000, max_age: float = 3600.0) -> Spool:
    return Spool(SpoolLimits(str(folder / "rows.jsonl"), max_bytes, max_age))


def test_batches_come_back_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    assert not spool.pending and spool.waiting_bytes == 0 and spool.age() == 0.0
    for begin in (0, 10, 20):
        spool.append([row(i) for i in range(begin, begin + 10)])
    assert spool.pending and spool.waiting_bytes > 0
    assert spool.head()[0] == [row(i) for i in range(10)]  # times are datetimes again
    spool.done()
    spool.close()

    reopened = spool_at(tmp_path)  # a new writer process: starts after what was replayed
    assert reopened.head()[0] == [row(i) for i in range(10, 20)]
    reopened.done()
    assert reopened.head()[0] == [row(i) for i in range(20, 30)]
    reopened.done()
    assert not reopened.pending and (tmp_path / "rows.jsonl").stat().st_size == 0


def test_the_spool_refuses_beyond_its_bytes_and_its_age(tmp_path: Path) -> None:
    small = spool_at(tmp_path / "small", max_bytes=2_000)
    small.append([row(0)])
    with pytest.raises(SpoolFullError, match="limit of 2,000"):
        small.append([row(i) for i in range(50)])
    assert small.head()[0] == [row(0)]  # what it held is intact

    brief = spool_at(tmp_path / "brief", max_age=0.01)
    brief.append([row(0)])
    time.sleep(0.05)
    with pytest.raises(SpoolFullError, match="oldest rows wait"):
        brief.append([row(1)])
    brief.done()
    brief.append([row(2)])  # empty again: it takes rows


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    folder = mount_tiny_disk(tmp_path / "tiny")
    try:
        yield folder
    finally:
        unmount(folder)


def test_a_full_disk_raises_and_leaves_no_torn_line(tiny_disk: Path) -> None:
    spool = spool_at(tiny_disk)
    batch = [row(i) for i in range(20)]
    appended = 0
    with pytest.raises(OSError, match="No space left"):
        while appended < 1000:
            spool.append(batch)
            appended += 1
    assert appended > 0
    for _ in range(appended):  # every batch kept before the disk filled reads back whole
        assert spool.head()[0] == batch
        spool.done()
    assert not spool.pending


def test_the_writer_spools_while_postgresql_is_stopped_and_replays_in_order(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    store = open_store(url, connect_timeout=2)
    assert store is not None
    spool = spool_at(tmp_path)
    limits = WriterLimits(max_rows=100, batch_size=20, flush_seconds=0.02, max_backoff_seconds=0.5)
    writer = PredictionLogWriter(store, limits, spool=spool)
    try:
        for i in range(50):
            assert writer.submit(row(i))
        assert writer.flush(WAIT_S) and writer.written == 50
        postgres.stop()
        for i in range(50, 1050):  # ten times what memory may hold: kept on disk instead
            while writer.held >= limits.max_rows:
                time.sleep(0.005)  # the buffer is full for a moment: the writer catches up
            assert writer.submit(row(i))
        deadline = time.monotonic() + WAIT_S
        while writer.spooled < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.spooled == 1000 and writer.dropped == 0 and spool.pending
        postgres.start()
        deadline = time.monotonic() + WAIT_S
        while writer.replayed < 1000 and time.monotonic() < deadline:  # counted after
            time.sleep(0.05)
        assert not spool.pending and writer.replayed == 1000 and writer.written == 1050
    finally:
        assert writer.close(10)
    logged = store.read_predictions()
    assert [r["customer_id"] for r in sorted(logged, key=lambda r: r["id"])] == [
        str(1000 + i) for i in range(1050)
    ]


def test_a_row_the_store_rejects_never_blocks_the_spool(tmp_path: Path) -> None:
    """A spooled line holding a row the store refuses for its content (no PD) is replayed one
    row at a time: the bad row is dropped and counted, the good ones written, the spool
    empties."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    assert store is not None
    store.ensure_tables()
    bad = list(row(1))
    bad[COLUMNS.index("pd")] = None  # NOT NULL
    spool = spool_at(tmp_path)
    spool.append([row(0), tuple(bad), row(2)])
    writer = PredictionLogWriter(store, WriterLimits(flush_seconds=0.02), spool=spool)
    deadline = time.monotonic() + WAIT_S
    while spool.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close(WAIT_S)
    assert not spool.pending
    assert (writer.written, writer.dropped, writer.replayed) == (2, 1, 3)
    assert sorted(r["customer_id"] for r in store.read_predictions()) == ["1000", "1002"]


class Group:
    """Rows submitted as one numbered group (the writer process's frames)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def expand(self) -> list[Row]:
        return self.rows


def logged_ids(url: str) -> list[str]:
    store = open_store(url)
    assert store is not None
    try:
        return sorted(r["customer_id"] for r in store.read_predictions())
    finally:
        store.close()


def test_numbered_rows_sent_again_to_a_new_writer_are_inserted_once(tmp_path: Path) -> None:
    """What a writer process that died after inserting (before saying so) leaves: its
    successor is sent the rows again, and skips those the store holds."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    for begin, end in ((0, 100), (50, 150)):
        store = open_store(url)
        assert store is not None
        writer = PredictionLogWriter(store, session="service-1")
        writer.submit_group(Group([row(i) for i in range(begin, end)]), first=begin)
        assert writer.close(WAIT_S) and writer.written == end - begin
        store.close()
    assert writer.skipped == 50
    assert logged_ids(url) == [str(1000 + i) for i in range(150)]


def test_a_spool_replayed_again_after_a_crash_inserts_its_rows_once(tmp_path: Path) -> None:
    """A writer that dies after replaying a spooled batch, before moving the spool's offset
    past it: the next writer replays the batch again, and inserts none of it twice."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    folder = tmp_path / "spool"
    folder.mkdir()
    spool = spool_at(folder)
    spool.append([row(i) for i in range(10)], [("service-1", i) for i in range(10)])
    spool.close()
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    for _ in range(2):
        for name, data in before.items():  # the spool as it was before the replay
            (folder / name).write_bytes(data)
        store = open_store(url)
        assert store is not None
        spool = spool_at(folder)
        writer = PredictionLogWriter(store, WriterLimits(flush_seconds=0.02), spool=spool)
        deadline = time.monotonic() + WAIT_S
        while spool.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.close(WAIT_S) and not spool.pending and writer.replayed == 10
        store.close()
    assert writer.skipped == 10
    assert logged_ids(url) == [str(1000 + i) for i in range(10)]
