"""The log writers on real databases: every row lands, submit never blocks when the store is
down, drops are counted, memory stays bounded, they recover by themselves, close flushes.

`PredictionLogWriter` is the thread writer; `ProcessLogWriter` (what the service uses) runs
it in a child process fed through a pipe, with the same guarantees, and a child that dies
costs counted drops, never an error. Where the two have the same guarantee, one test
checks both (`make_writer` hides submit vs submit_group).

No assertion here is on elapsed time: "never blocks" is shown with a store that provably
hangs, and every wait is bounded only to turn a hang into a failure."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bankrisk.prediction_log.process_writer import INLINE_ROWS, ProcessLogWriter
from bankrisk.prediction_log.rows import ScoredRows
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.prediction_log.thread_writer import PredictionLogWriter, WriterLimits
from bankrisk.schema import FIELD_NAMES
from helpers.log_rows import prediction_row, prediction_values
from helpers.postgres import PostgresServer


def store_at(url: str, **kwargs: object) -> PredictionStore:
    store = open_store(url, connect_timeout=1, **kwargs)  # type: ignore[arg-type]
    assert store is not None
    return store


# Bounds on waits that normally take well under a second: a hang fails instead of blocking.
WAIT_S = 60.0


def wait_until(condition: object, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A prediction log's URL: a SQLite file, or a database of the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_every_submitted_row_lands(log_url: str) -> None:
    store = store_at(log_url)
    writer = PredictionLogWriter(
        store, WriterLimits(max_rows=5000, batch_size=100, flush_seconds=0.05)
    )
    for i in range(2500):
        assert writer.submit(prediction_row(i))
    assert writer.flush(30)
    assert store.count_predictions() == 2500
    assert writer.close(10)
    assert writer.dropped == 0 and writer.written == 2500
    ids = {r["request_id"] for r in store.read_predictions()}
    assert ids == {f"req-{i}" for i in range(2500)}


def test_close_flushes_what_is_queued(tmp_path: Path) -> None:
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}")
    # A long flush interval: without close() the rows would still be waiting. close(10) is
    # True only if the writer thread ended within its 10 s: close woke it, rather than the
    # 30 s interval.
    writer = PredictionLogWriter(store, WriterLimits(batch_size=10_000, flush_seconds=30))
    for i in range(300):
        writer.submit(prediction_row(i))
    assert writer.close(10)
    assert store.count_predictions() == 300
    assert not writer.submit(prediction_row(1)) and writer.dropped == 1


def test_a_malformed_row_is_dropped_not_retried(tmp_path: Path) -> None:
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}")
    drops: list[int] = []
    writer = PredictionLogWriter(store, WriterLimits(flush_seconds=0.05), on_drop=drops.append)
    writer.submit(prediction_row(1))
    writer.submit(("req-broken",))  # no PD (nor anything else): not a row
    writer.submit(prediction_row(2))
    assert writer.close(10) is True or writer.dropped == 1
    assert store.count_predictions() == 2 and writer.dropped == 1 and sum(drops) == 1


@pytest.mark.parametrize(
    ("modules", "heavy"),
    [
        # The service side (writer, store, streaming PSI) runs on the light serving install.
        ("bankrisk.prediction_log.thread_writer, bankrisk.monitoring.psi",
         "{'numpy', 'pandas', 'scipy', 'sklearn', 'matplotlib'}"),
        # The writer process imports the writer and the rows' module only: no model, no numpy.
        ("bankrisk.prediction_log.process_writer, bankrisk.prediction_log.rows",
         "{'numpy', 'pandas', 'onnxruntime', 'fastapi'}"),
    ],
)  # fmt: skip
def test_the_writers_need_no_heavy_imports(modules: str, heavy: str) -> None:
    import subprocess
    import sys

    code = f"import sys, {modules}; heavy = {heavy} & set(sys.modules); assert not heavy, heavy"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_sigterm_handler_flushes_the_queue_before_exit(tmp_path: Path) -> None:
    """The shutdown pattern the service uses: on SIGTERM, close() writes what is queued."""
    import signal
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'log.db'}"
    script = f"""
import signal, sys, time
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
from bankrisk.prediction_log.thread_writer import PredictionLogWriter, WriterLimits
from bankrisk.prediction_log.store import open_store
from helpers.log_rows import prediction_row
writer = PredictionLogWriter(
    open_store({url!r}), WriterLimits(batch_size=10_000, flush_seconds=60)
)
def stop(*_):
    writer.close(10)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
for i in range(1000):
    writer.submit(prediction_row(i))
print("ready", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    store = store_at(url)
    assert store.count_predictions() == 0  # still queued: the flush interval is a minute
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert store.count_predictions() == 1000


# ---- the writer process ---------------------------------------------------------------------


def scored(begin: int, count: int = 1) -> ScoredRows:
    """Customers begin..begin+count-1 (`prediction_values`) as one request submits them:
    request id `req-{begin}`, customer ids `1000 + i`."""
    rows = [prediction_values(i) for i in range(begin, begin + count)]
    model = {"name": rows[0]["model_name"], "version": rows[0]["model_version"], "role": "champion"}
    answers = [
        {
            "customer_id": row["customer_id"],
            "probability_of_default": row["pd"],
            "score": row["score"],
            "risk_grade": row["grade"],
            "decision": row["decision"],
            "reason_codes": row["reason_codes"],
            "warnings": [],
        }
        for row in rows
    ]
    inputs = [[row[name] for name in FIELD_NAMES] for row in rows]
    return ScoredRows(f"req-{begin}", model, [(inputs, answers)], 1.5)  # type: ignore[arg-type]


def process_writer(store: PredictionStore, on_drop: Any = None, **limits: Any) -> ProcessLogWriter:
    return ProcessLogWriter(store, limits=WriterLimits(**limits), on_drop=on_drop)


def test_the_writer_process_lands_every_row(log_url: str) -> None:
    store = store_at(log_url)
    writer = process_writer(store, max_rows=5000, batch_size=100, flush_seconds=0.05)
    for i in range(1000):  # single customers: serialised on the caller's thread
        assert writer.submit_group(scored(i)) == 1
    big = INLINE_ROWS * 3 + 7  # a batch: serialised by the link thread, slice by slice
    assert writer.submit_group(scored(1000, big)) == big
    assert writer.flush(60), writer.last_error
    assert store.count_predictions() == 1000 + big == writer.written
    assert writer.close(10)
    assert writer.dropped == 0 and writer.held == 0
    rows = store.read_predictions()
    assert sorted(int(r["customer_id"]) for r in rows) == list(range(1000, 2000 + big))
    expected = prediction_values(1100)  # in the batch
    (row,) = [r for r in rows if r["customer_id"] == expected["customer_id"]]
    assert row["request_id"] == "req-1000"
    assert {name: row[name] for name in FIELD_NAMES} == {n: expected[n] for n in FIELD_NAMES}
    assert (row["pd"], row["score"], row["reason_codes"]) == (
        expected["pd"],
        expected["score"],
        expected["reason_codes"],
    )


def test_the_writer_process_keeps_what_fits_and_flushes_on_close(tmp_path: Path) -> None:
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}")
    drops: list[int] = []
    # Nothing is written before close(): a long flush interval and a batch larger than all.
    writer = process_writer(
        store, max_rows=150, batch_size=10_000, flush_seconds=30, on_drop=drops.append
    )
    assert writer.submit_group(scored(0, 100)) == 100
    assert writer.submit_group(scored(100, 100)) == 50  # the first 50 fit: the rest is dropped
    assert writer.held == 150 and writer.dropped == 50 and drops == [50]
    assert writer.close(10)  # everything held was written
    assert store.count_predictions() == 150 == writer.written
    assert sorted(int(r["customer_id"]) for r in store.read_predictions()) == list(
        range(1000, 1150)
    )
    assert writer.submit_group(scored(500)) == 0 and writer.dropped == 51 and sum(drops) == 51


def kill_child(writer: ProcessLogWriter) -> int:
    """SIGKILL the writer's child process (say, the OOM killer); its pid."""
    child = writer._child
    assert child is not None
    child.process.kill()
    return child.process.pid


def test_a_writer_process_killed_twice_is_restarted_and_loses_no_row(tmp_path: Path) -> None:
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}")
    drops: list[int] = []
    writer = process_writer(store, batch_size=50, flush_seconds=0.05, on_drop=drops.append)
    for i in range(300):
        writer.submit_group(scored(i))
    assert wait_until(lambda: writer.written > 0, WAIT_S)
    first = kill_child(writer)
    for i in range(300, 600):  # while it is down: held, then sent to the next child
        writer.submit_group(scored(i))
    assert wait_until(lambda: writer._child is not None and writer.restarts == 1, WAIT_S)
    assert "exited with code -9" in (writer.last_error or "")
    second = kill_child(writer)  # at once: its rows are sent again too
    assert second != first
    for i in range(600, 900):
        writer.submit_group(scored(i))
    assert writer.flush(WAIT_S), writer.last_error
    assert writer.restarts == 2 and writer.dropped == 0 and drops == [] and writer.held == 0
    logged = {int(r["customer_id"]) for r in store.read_predictions()}
    assert logged == set(range(1000, 1900))  # every customer; a re-send may repeat a few
    assert writer.close(10)


def test_rows_held_when_the_writer_process_is_down_at_shutdown_are_counted_lost(
    tmp_path: Path,
) -> None:
    store = store_at(f"sqlite:///{tmp_path / 'log.db'}")
    drops: list[int] = []
    writer = process_writer(store, batch_size=10_000, flush_seconds=30, on_drop=drops.append)
    for i in range(20):
        writer.submit_group(scored(i))
    kill_child(writer)
    assert wait_until(lambda: writer._child is None, WAIT_S)  # before its restart (0.5 s)
    assert writer.recording is not None and "restarting" in writer.recording
    assert writer.close(5) is False
    assert writer.dropped == 20 == sum(drops) and writer.held == 0 and writer.written == 0
    assert writer.submit_group(scored(99)) == 0 and writer.dropped == 21


# ---- both writers ---------------------------------------------------------------------------

WRITERS = ["thread", "process"]

AnyWriter = PredictionLogWriter | ProcessLogWriter


def make_writer(
    kind: str, store: PredictionStore, on_drop: Any = None, **limits: Any
) -> tuple[AnyWriter, Any]:
    """The thread or the process writer, and `submit(i)`: queue customer i as the service
    would (a row, or a one-customer group), returning the rows kept."""
    if kind == "process":
        grouped = process_writer(store, on_drop, **limits)
        return grouped, lambda i: grouped.submit_group(scored(i))
    writer = PredictionLogWriter(store, WriterLimits(**limits), on_drop=on_drop)
    return writer, lambda i: int(writer.submit(prediction_row(i)))


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte: a
    PostgreSQL client that connects waits in its handshake (until its own timeout), so no
    insert can succeed. `connected` is set once a client has connected."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"postgresql+pg8000://u@127.0.0.1:{self._listener.getsockname()[1]}/db"
        self.connected = threading.Event()
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._accepted.append(connection)
            self.connected.set()

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self._listener.close()
        self._thread.join(WAIT_S)
        for connection in self._accepted:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("kind", WRITERS)
def test_submit_never_blocks_on_a_store_that_hangs(kind: str, silent: SilentServer) -> None:
    """All 5,000 submits return while the writer is stuck in the store's handshake; memory
    stays bounded; what does not fit is dropped and counted at once; close gives up."""
    store = open_store(silent.url, connect_timeout=1, create=False)
    assert store is not None
    drops: list[int] = []
    writer, submit = make_writer(
        kind,
        store,
        drops.append,
        max_rows=200,
        batch_size=50,
        flush_seconds=0.02,
        max_backoff_seconds=0.2,
    )
    submit(0)
    assert silent.connected.wait(WAIT_S), "the writer never reached the store"
    held: list[int] = []

    def submit_the_rest() -> None:
        for i in range(1, 5000):
            submit(i)
            held.append(writer.held)

    submitter = threading.Thread(target=submit_the_rest, daemon=True)
    submitter.start()
    submitter.join(WAIT_S)  # only a real hang takes this long
    assert not submitter.is_alive(), "submit blocked on the store"
    assert len(held) == 4999 and max(held) <= 200
    assert writer.written == 0  # the store never answered: nothing got through
    assert writer.dropped >= 4800 and sum(drops) == writer.dropped

    assert writer.close(0.5) is False  # could not flush: the rest is dropped and counted
    assert wait_until(lambda: writer.dropped == 5000, WAIT_S), writer.dropped
    assert sum(drops) == 5000 and writer.written == 0 and writer.held == 0


@pytest.mark.parametrize("kind", WRITERS)
def test_postgres_down_then_back_recovers_by_itself(
    kind: str, postgres: PostgresServer, pg_url: str
) -> None:
    store = store_at(pg_url)
    writer, submit = make_writer(
        kind, store, max_rows=300, batch_size=50, flush_seconds=0.05, max_backoff_seconds=0.5
    )
    for i in range(100):
        submit(i)
    assert writer.flush(30) and store.count_predictions() == 100

    postgres.stop()
    try:
        for i in range(100, 2100):
            submit(i)
            assert writer.held <= 300
        # Failures are counted, and the last error names the store (the process writer's
        # child reports it).
        assert wait_until(lambda: "127.0.0.1" in (writer.last_error or ""), WAIT_S)
        assert writer.failures > 0
        assert writer.dropped >= 2000 - 300
    finally:
        postgres.start()
    postgres.wait_ready()
    # Back up: what was held lands without any help, and new rows flow again.
    assert wait_until(lambda: writer.held == 0, WAIT_S), writer.last_error
    for i in range(5000, 5100):
        assert submit(i) == 1
    assert writer.close(30)
    assert store.count_predictions() == writer.written == 100 + (2000 - writer.dropped) + 100
    assert writer.dropped + writer.written == 2200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_rows", 0),
        ("batch_size", 0),
        ("flush_seconds", 0.0),
        ("initial_backoff_seconds", -1.0),
        ("max_backoff_seconds", 0.01),  # below the initial backoff
    ],
)
def test_bad_limits_are_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be "):
        WriterLimits(**{field: value})
