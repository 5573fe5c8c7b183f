"""Many instances, one store (issue 21): the PostgreSQL prediction log's write capacity with
several service instances' log writers at once, and the connections they hold.

Each writer is a separate OS process doing what a service instance's writer child does
(`prediction_log/process_writer.py`): `open_store(url, create=False, wal=True)` and a
`PredictionLogWriter` with the service's default limits (`prediction_log_queue`,
`prediction_log_batch`, `prediction_log_flush_seconds` in `bankrisk.config`; `--batch`
overrides the batch). It is fed what the child receives from its API process: frames of
`SEND_ROWS` customers' `ScoredRows` bytes, each submitted as a `DecodedRows`, so the writer
thread decodes, builds and inserts the rows as in the service. The frames are built before
any timing: the shared data's 24,000 customers scored once by the bundle of `--model-dir`
(default: the tests' small real bundle, `tests/helpers/factories.make_bundle`), one
single-customer request each. A writer submits as fast as its writer takes them (it waits
while the writer holds `prediction_log_queue` rows, as the service's pipe would), for
`--seconds`, then closes its writer, which writes everything it holds.

Rows/s is the rows in the table afterwards (counted, not the writers' counters; the table is
emptied before each measurement) over the wall time from the start signal until the last
writer has closed. Meanwhile the benchmark samples, from its own connection, the client
connections to the database (`pg_stat_activity`, its own left out) and each writer process's
TCP sockets to the server's port (`/proc`): the most each held. With the private server it
also reads the server's CPU time (`/proc`, the postmaster and its children). Writer counts
alternate within each round; medians and ranges over `--rounds`.

The default store is a private PostgreSQL started as the tests start it
(`tests/helpers/postgres.py`), but with fsync on, as in production (the tests' server runs
with `fsync=off`). It shares the machine's cores with the writers.

    .venv/bin/python benchmarks/log_write_capacity.py --writers 1 2 4 8 --seconds 20 --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from bankrisk.config import Settings
from bankrisk.prediction_log.process_writer import POLL_S, SEND_ROWS
from bankrisk.prediction_log.rows import DecodedRows
from bankrisk.prediction_log.store import COLUMNS, open_store
from bankrisk.prediction_log.thread_writer import PredictionLogWriter, WriterLimits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

# Seconds a writer may take to write what it holds when its time is up.
CLOSE_S = 300.0
# Seconds between samples of the connections.
SAMPLE_S = 0.1
# docs/performance.md: requests/s at c=32 with the prediction log on (benchmarks/ab_serving.py,
# B, 2026-12-06): the rows/s one instance produces at most with single-customer requests.
INSTANCE_RATE = 5047


def service_limits(batch: int | None) -> WriterLimits:
    """The service's default writer limits (`Settings`' defaults, not the environment's)."""
    fields = Settings.model_fields
    return WriterLimits(
        max_rows=fields["prediction_log_queue"].default,
        batch_size=batch or fields["prediction_log_batch"].default,
        flush_seconds=fields["prediction_log_flush_seconds"].default,
    )


def durable_server() -> Any:
    """The tests' private PostgreSQL server (`PostgresServer`), started with fsync on."""
    from helpers.postgres import PostgresServer

    class DurableServer(PostgresServer):  # type: ignore[misc]
        def start(self) -> None:  # the tests' options but `-c fsync=off`
            options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            log = str(self.dir / "server.log")
            self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    return DurableServer()


# ---- the rows, built once before any timing ----------------------------------------------


def build_frames(model_dir: Path | None, data: Path) -> list[tuple[int, bytes]]:
    """The shared data's customers scored once, one single-customer request each, in frames
    of `SEND_ROWS` customers as the service's API process sends them to its writer child."""
    from bankrisk.core.scorer import Scorer
    from bankrisk.data.load import load_dataset
    from bankrisk.prediction_log.rows import ScoredRows
    from bankrisk.schema import FIELD_NAMES, ID_COLUMN

    frame = load_dataset(data)
    raw = frame[list(FIELD_NAMES)].to_numpy(dtype="float64")
    ids = [str(i) for i in frame[ID_COLUMN]]
    if model_dir is not None:
        from bankrisk.bundle.model_bundle import ModelBundle

        bundle = ModelBundle.load(model_dir)
    else:
        from helpers.factories import make_bundle

        bundle = make_bundle()
    scorer = Scorer(bundle)
    predictions = scorer.predict(raw, ids)
    when = time.time()
    parts: list[bytes] = []
    for i, prediction in enumerate(predictions):
        request = ScoredRows(
            f"req-{i:06d}", scorer.model_ref, [(raw[i : i + 1], [prediction])], 0.25, when + i
        )
        parts.extend(part for _, part in request.parts())
    frames = [
        (len(parts[i : i + SEND_ROWS]), b"[" + b",".join(parts[i : i + SEND_ROWS]) + b"]")
        for i in range(0, len(parts), SEND_ROWS)
    ]
    rows = DecodedRows(frames[0][1], frames[0][0]).expand()
    assert len(rows) == frames[0][0] and len(rows[0]) == len(COLUMNS)
    size = sum(len(payload) for _, payload in frames) / len(parts)
    print(
        f"rows: {len(parts):,} customers scored by {bundle.name} v{bundle.version}, "
        f"{len(frames)} frames of {SEND_ROWS}, {size:,.0f} bytes a customer on the pipe",
        flush=True,
    )
    return frames


# ---- one writer process -------------------------------------------------------------------


def write_for(
    url: str,
    frames_path: str,
    limits: dict[str, Any],
    seconds: float,
    ready: Any,
    start: Any,
    results: Any,
) -> None:
    """A service instance's writer child, fed as fast as its writer takes the rows."""
    with open(frames_path, "rb") as file:
        frames: list[tuple[int, bytes]] = pickle.load(file)
    store = open_store(url, create=False, wal=True)
    assert store is not None
    # Numbered rows in a session of its own, as the child writes them (store.Progress).
    writer = PredictionLogWriter(store, WriterLimits(**limits), session=uuid.uuid4().hex)
    room = writer.limits.max_rows
    number = 0
    ready.put(os.getpid())
    start.wait()
    cpu = time.process_time()
    end = time.monotonic() + seconds
    submitted = waits = i = 0
    while time.monotonic() < end:
        count, payload = frames[i]
        if writer.held + count > room:  # the service's pipe would fill: its child waits
            waits += 1
            time.sleep(POLL_S)
            continue
        submitted += writer.submit_group(DecodedRows(payload, count), first=number)
        number += count
        i = (i + 1) % len(frames)
    closed = writer.close(CLOSE_S)
    store.close()
    results.put(
        {
            "pid": os.getpid(),
            "submitted": submitted,
            "written": writer.written,
            "dropped": writer.dropped,
            "failures": writer.failures,
            "error": writer.last_error,
            "closed": closed,
            "cpu": time.process_time() - cpu,
        }
    )


# ---- what the benchmark watches -----------------------------------------------------------


def tcp_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections to `port` (any address)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def sockets_of(pid: int, inodes: set[str]) -> int:
    """How many of `inodes` process `pid` holds open."""
    count = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def server_cpu(postmaster: int | None) -> float | None:
    """CPU seconds of the PostgreSQL server: the postmaster (with its reaped children, the
    backends that ended) and its live children."""
    if postmaster is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # from the state on
        ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
        if int(entry) == postmaster:
            total += utime + stime + cutime + cstime
        elif ppid == postmaster:
            total += utime + stime
    return total / tick


CLIENTS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


class Watcher:
    """Samples the writers' connections while they write."""

    def __init__(self, admin: Connection, port: int, pids: Sequence[int]) -> None:
        self.admin = admin
        self.port = port
        self.pids = list(pids)
        self.server_max = 0
        self.per_writer_max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def sample(self) -> None:
        clients = int(self.admin.execute(CLIENTS).scalar_one())
        inodes = tcp_inodes(self.port)
        per_writer = max((sockets_of(pid, inodes) for pid in self.pids), default=0)
        self.server_max = max(self.server_max, clients)
        self.per_writer_max = max(self.per_writer_max, per_writer)
        self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ---- one measurement ----------------------------------------------------------------------


def measure(
    url: str,
    admin: Connection,
    writers: int,
    seconds: float,
    frames_path: str,
    limits: WriterLimits,
    postmaster: int | None,
) -> dict[str, Any]:
    """`writers` writer processes at once for `seconds`: rows/s, connections, CPU."""
    admin.execute(text("TRUNCATE predictions"))
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(
            target=write_for,
            args=(url, frames_path, asdict(limits), seconds, ready, start, results),
        )
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    pids = [ready.get(timeout=300) for _ in processes]
    port = make_url(url).port or 5432
    cpu = server_cpu(postmaster)
    began = time.perf_counter()
    start.set()
    watcher = Watcher(admin, port, pids)
    reports = [results.get(timeout=seconds + CLOSE_S + 120) for _ in processes]
    wall = time.perf_counter() - began
    watcher.stop()
    for process in processes:
        process.join(60)
    deadline = time.monotonic() + 30
    while int(admin.execute(CLIENTS).scalar_one()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the backends end once their clients have gone
    cpu_after = server_cpu(postmaster)
    rows = int(admin.execute(text("SELECT count(*) FROM predictions")).scalar_one())
    bad = [r for r in reports if r["dropped"] or r["failures"] or not r["closed"]]
    for report in bad:
        print(f"    writer {report['pid']}: {report}", flush=True)
    written = sum(r["written"] for r in reports)
    if written != rows:
        print(f"    the writers counted {written:,} rows written, the table holds {rows:,}")
    return {
        "rows": rows,
        "wall": wall,
        "rate": rows / wall,
        "server_max": watcher.server_max,
        "per_writer_max": watcher.per_writer_max,
        "samples": watcher.samples,
        "dropped": sum(r["dropped"] for r in reports),
        "server_cpu_us": None
        if cpu is None or cpu_after is None
        else (cpu_after - cpu) / rows * 1e6,
        "writer_cpu_us": sum(r["cpu"] for r in reports) / rows * 1e6,
    }


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    """Median (min-max)."""
    median = statistics.median(values)
    return f"{median:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(
    writer_counts: Sequence[int], got: dict[int, list[dict[str, Any]]], instance_rate: float
) -> None:
    print(
        "\nwriters | rows/s | rows/s per writer | connections held (server; most by one "
        "writer) | at most one each | server CPU us/row | writer CPU us/row | dropped"
    )
    for n in writer_counts:
        runs = got[n]
        rates = [r["rate"] for r in runs]
        server = max(r["server_max"] for r in runs)
        one = max(r["per_writer_max"] for r in runs)
        cpu = [r["server_cpu_us"] for r in runs if r["server_cpu_us"] is not None]
        print(
            f"{n:7d} | {spread(rates)} | {spread([x / n for x in rates])} | {server}; {one} | "
            f"{'yes' if one <= 1 and server <= n else 'NO'} | "
            f"{spread(cpu) if cpu else 'n/a'} | "
            f"{spread([r['writer_cpu_us'] for r in runs])} | "
            f"{sum(r['dropped'] for r in runs)}"
        )
    top = max(writer_counts)
    rate = statistics.median(r["rate"] for r in got[top])
    print(
        f"\nat {top} writers, {rate:,.0f} rows/s: {rate / instance_rate:.1f} instances at "
        f"{instance_rate:,.0f} rows/s each (one row a request), "
        f"{rate / (2 * instance_rate):.1f} with a shadow challenger (two rows a request; "
        "a canary's customers log one)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0, help="writing time per measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batch", type=int, default=None, help="rows per insert (default: the service's)"
    )
    parser.add_argument(
        "--url",
        default=None,
        help="a PostgreSQL SQLAlchemy URL (its `predictions` table is emptied!); default: a "
        "private server started here",
    )
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="the bundle to score the customers with"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE.parent.parent / "shared/data/default_of_credit_card_clients.csv",
    )
    parser.add_argument(
        "--instance-rate",
        type=float,
        default=INSTANCE_RATE,
        help="rows/s one service instance produces (default: docs/performance.md's "
        "requests/s at c=32 with the log on)",
    )
    args = parser.parse_args()
    limits = service_limits(args.batch)
    print(f"writer limits: {limits}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="log-write-capacity-"))
    frames_path = folder / "frames.pickle"
    with frames_path.open("wb") as file:
        pickle.dump(build_frames(args.model_dir, args.data), file)
    server = None
    postmaster = None
    url = args.url
    if url is None:
        server = durable_server()  # started by its constructor
        url = server.create_database()
        postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    try:
        store = open_store(url)  # the table, created once (the writers do not create it)
        assert store is not None
        store.close()
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as admin:
            settings = {
                name: admin.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("server_version", "fsync", "synchronous_commit", "max_connections")
            }
            print(f"PostgreSQL: {settings}; {os.cpu_count()} cores here", flush=True)
            got: dict[int, list[dict[str, Any]]] = {n: [] for n in args.writers}
            for round_ in range(1, args.rounds + 1):
                for n in args.writers:
                    load = os.getloadavg()[0]
                    result = measure(
                        url, admin, n, args.seconds, str(frames_path), limits, postmaster
                    )
                    got[n].append(result)
                    cpu = result["server_cpu_us"]
                    print(
                        f"round {round_}, {n} writers: {result['rows']:,} rows in "
                        f"{result['wall']:.1f} s = {result['rate']:,.0f} rows/s; connections "
                        f"{result['server_max']} (most by one writer "
                        f"{result['per_writer_max']}, {result['samples']} samples); server "
                        f"CPU {'n/a' if cpu is None else f'{cpu:.0f}'} us/row, writers' "
                        f"{result['writer_cpu_us']:.0f} us/row; load before {load:.1f}",
                        flush=True,
                    )
        engine.dispose()
        report(args.writers, got, args.instance_rate)
    finally:
        if server is not None:
            server.destroy()
        frames_path.unlink(missing_ok=True)
        folder.rmdir()


if __name__ == "__main__":
    main()
