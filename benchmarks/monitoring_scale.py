"""Monitoring at a bank's scale: time and peak RSS of `bankrisk monitor drift` and `bankrisk
monitor performance` on prediction logs of millions of rows, SQLite and PostgreSQL, and on a
Spark run record (`--store spark`).

The log: the shared data's 24,000 customers scored by the champion (as the service logs them,
spread over twelve months of 2026), then copied until it holds `--rows` rows, each copy a new
set of customers (`ID.k`) with the same outcomes, which are stored for every customer. Each
command runs in its own process, as a user runs it; its wall time and peak RSS are printed,
median and range over `--rounds`.

`--store spark`: the same rows as a Spark run record (`bankrisk score --engine spark
--record`'s layout, role `portfolio`, one run id per month), written as Parquet by pyarrow
(the scoring job is not what is timed), and their outcomes in a SQLite log; the commands are
`monitor drift|performance --engine spark --record ... --master local[2]`.

Peak RSS: of the command's whole process tree (the command, and for Spark its JVM and Python
workers), summed over the processes from /proc every 0.1 s (shared pages counted in each
process: an upper bound), and at least the command's own peak (`wait4`).

    .venv/bin/python benchmarks/monitoring_scale.py --model-dir models/champion \\
        --rows 1000000 10000000 --store sqlite postgresql spark
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, func, insert, literal, select, text

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.cli.monitor import FOUR_FIFTHS_FAILED_EXIT
from bankrisk.data.load import load_dataset
from bankrisk.prediction_log.runs import ROLE
from bankrisk.prediction_log.store import (
    COLUMNS,
    PredictionStore,
    open_store,
    outcomes,
    predictions,
)
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.log_rows import scored_rows  # noqa: E402 - the rows as the tests and the service make them
from helpers.monitoring_figures import differences  # noqa: E402 - JSON outputs, numbers to 1e-9
from serving import rss_mb  # noqa: E402 - benchmarks/serving.py: RSS of a process tree from /proc


def fill(store: PredictionStore, model_dir: Path, data: Path, rows: int) -> None:
    """The log described in the module's docstring, `rows` predictions long."""
    frame = load_dataset(data)
    raw = frame[list(FIELD_NAMES)].to_numpy(dtype="float64")
    ids = [str(i) for i in frame[ID_COLUMN]]
    bundle = ModelBundle.load(model_dir)
    step = timedelta(days=365) / len(raw)
    store.insert_predictions(scored_rows(bundle, raw, ids, datetime(2026, 1, 1, tzinfo=UTC), step))
    store.upsert_outcomes(zip(ids, frame[TARGET].astype(int).tolist(), strict=True), "benchmark")
    copy = 1
    with store.engine.begin() as connection:
        held = len(raw)
        while held < rows:
            take = min(held, rows - held)
            source = select(predictions).order_by(predictions.c.id).limit(take).subquery()
            values = [
                (source.c.customer_id + literal(f".{copy}")).label(name)
                if name == "customer_id"
                else source.c[name]
                for name in COLUMNS
            ]
            connection.execute(insert(predictions).from_select(list(COLUMNS), select(*values)))
            copy_outcomes(connection, copy, take)
            held += take
            copy += 1
        count = connection.execute(select(func.count()).select_from(predictions)).scalar_one()
    print(f"  log filled: {count:,} predictions", flush=True)


def settle(store: PredictionStore) -> None:
    """What autovacuum does to a table grown by millions of rows before long, done now: the
    planner's statistics and the rows' visibility (until then, scans of freshly loaded rows
    check and write their hint bits). A log that grew over months has both."""
    import pg8000.native  # outside a transaction, which VACUUM refuses

    url = store.engine.url
    connection = pg8000.native.Connection(
        url.username or "postgres",
        host=url.host or "localhost",
        database=url.database,
        port=url.port or 5432,
        password=url.password,
    )
    try:
        connection.run("VACUUM ANALYZE")
    finally:
        connection.close()
    print("  VACUUM ANALYZE done", flush=True)


def copy_outcomes(connection: Connection, copy: int, take: int) -> None:
    """The outcomes of the copy `copy` of the first `take` customers logged (`ID.copy`):
    theirs, so that every customer in the log has one."""
    copied = select(predictions.c.customer_id).order_by(predictions.c.id).limit(take).subquery()
    marked = select(
        (outcomes.c.customer_id + literal(f".{copy}")),
        outcomes.c.defaulted,
        outcomes.c.source,
        outcomes.c.ingested_at,
    ).join_from(outcomes, copied, copied.c.customer_id == outcomes.c.customer_id)
    connection.execute(
        insert(outcomes).from_select(["customer_id", "defaulted", "source", "ingested_at"], marked)
    )


# Rows of a run record's Parquet file (Spark splits the files by row group to read them).
RECORD_FILE_ROWS = 1_000_000


def fill_record(
    record: Path, store: PredictionStore, model_dir: Path, data: Path, rows: int
) -> None:
    """The run record described in the module's docstring, `rows` rows long, in the folder
    `record`, and the outcomes of its customers in `store`."""
    frame = load_dataset(data)
    ids = [str(i) for i in frame[ID_COLUMN]]
    base = _scored_record(ModelBundle.load(model_dir), frame, ids)
    copies = _write_copies(record, base, rows)
    print(f"  record written: {rows:,} rows, {copies} copies of the customers", flush=True)
    store.upsert_outcomes(zip(ids, frame[TARGET].astype(int).tolist(), strict=True), "benchmark")
    if copies > 1:
        _copy_outcomes_at_once(store, copies - 1)


def _scored_record(bundle: ModelBundle, frame: Any, ids: list[str]) -> pa.Table:
    """The customers scored as `fill` logs them, as a run record's rows: role `portfolio`,
    the run id of their month, no latency."""
    raw = frame[list(FIELD_NAMES)].to_numpy(dtype="float64")
    step = timedelta(days=365) / len(raw)
    logged = scored_rows(bundle, raw, ids, datetime(2026, 1, 1, tzinfo=UTC), step, ROLE)
    base = pa.Table.from_pylist([dict(zip(COLUMNS, row, strict=True)) for row in logged])
    runs = pa.array([f"run-{t:%Y-%m}" for t in base.column("time").to_pylist()])
    base = base.set_column(COLUMNS.index("request_id"), "request_id", runs)
    latency = pa.nulls(len(raw), pa.float64())
    return base.set_column(COLUMNS.index("latency_ms"), "latency_ms", latency)


def _write_copies(record: Path, base: pa.Table, rows: int) -> int:
    """`rows` rows of copies of `base` (copy k's customers `ID.k`) as Parquet files of
    about `RECORD_FILE_ROWS` rows in the folder `record`; returns the number of copies."""
    customer = COLUMNS.index("customer_id")
    record.mkdir(parents=True)
    held, copy, writer = 0, 0, None
    while held < rows:
        if held % RECORD_FILE_ROWS < base.num_rows and writer is not None:
            writer.close()
            writer = None
        if writer is None:
            name = f"part-{held // RECORD_FILE_ROWS:05d}.parquet"
            writer = pq.ParquetWriter(record / name, base.schema)
        part = base.slice(0, min(base.num_rows, rows - held))
        if copy:
            renamed = pc.binary_join_element_wise(part["customer_id"], f".{copy}", "")
            part = part.set_column(customer, "customer_id", renamed)
        writer.write_table(part)
        held += part.num_rows
        copy += 1
    assert writer is not None
    writer.close()
    return copy


def _copy_outcomes_at_once(store: PredictionStore, last: int) -> None:
    """The outcomes of copies 1 to `last` of the customers (SQLite), in one statement: a
    copy at a time would rescan the growing table each time."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :last) "
                "INSERT INTO outcomes (customer_id, defaulted, source, ingested_at) "
                "SELECT o.customer_id || '.' || k.n, o.defaulted, o.source, o.ingested_at "
                "FROM outcomes AS o, k WHERE instr(o.customer_id, '.') = 0"
            ),
            {"last": last},
        )


COMMANDS = ("drift", "drift --by month", "performance")


# Exit codes of a command that ran to the end with a finding: drift alerted (1), a group's
# approval rate below four fifths of the highest (3).
FINDINGS = (0, 1, FOUR_FIFTHS_FAILED_EXIT)


def _without_frames(errors: str) -> str:
    """The end of a command's error output without the JVM's stack frames (`\tat ...`), so
    that Spark's warnings before a failure are kept."""
    lines = [line for line in errors.splitlines() if not line.lstrip().startswith("at ")]
    return "\n".join(lines)[-4000:]


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command in its own process: of its process
    tree, sampled, and at least its own peak (`wait4`)."""
    peak = [0.0]
    with tempfile.TemporaryFile() as errors:  # Spark's progress would fill a pipe
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], rss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) not in FINDINGS:
            errors.seek(0)
            failure = _without_frames(errors.read().decode())
            raise SystemExit(f"{' '.join(command)} failed: {failure}")
    return seconds, max(peak[0], usage.ru_maxrss / 1024)


def bankrisk(*args: str) -> list[str]:
    code = "import sys; from bankrisk.cli import main; main(sys.argv[1:])"
    return [sys.executable, "-c", code, *args]


def run(url: str, model_dir: Path, rounds: int, only: list[str], record: Path | None) -> None:
    """Time the commands on the log at `url`, or with a `record` on it and the log's
    outcomes, on Spark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    rows = ["--log", url]
    if record is not None:
        rows = ["--engine", "spark", "--record", str(record), "--master", "local[2]"]
    drift = ["monitor", "drift", *rows, "--model-dir", str(model_dir), "--json"]
    outcomes_from = ["--log", url] if record is not None else []
    commands = {
        "drift": bankrisk(*drift),
        "drift --by month": bankrisk(*drift, "--by", "month"),
        "performance": bankrisk("monitor", "performance", *rows, *outcomes_from, "--json"),
    }
    for name, command in commands.items():
        if name not in only:
            continue
        got = [measure(command, env) for _ in range(rounds)]
        seconds = [s for s, _ in got]
        rss = [m for _, m in got]
        print(
            f"  {name:<18} {statistics.median(seconds):7.1f} s "
            f"({min(seconds):.1f}-{max(seconds):.1f})  peak RSS {statistics.median(rss):6.0f} MB "
            f"({min(rss):.0f}-{max(rss):.0f})",
            flush=True,
        )


def load_record(url: str, record: Path) -> None:
    """The record's rows inserted into the log at `url` as they are (role `portfolio`)."""
    store = open_store(url, connect_timeout=3600)
    assert store is not None
    try:
        for path in sorted(record.glob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(100_000, columns=list(COLUMNS)):
                values = [batch.column(name).to_pylist() for name in COLUMNS]
                store.insert_predictions(list(zip(*values, strict=True)))
    finally:
        store.close()
    print("  the record's rows loaded into the log (role portfolio)", flush=True)


def compare(url: str, record: Path, model_dir: Path, only: list[str]) -> None:
    """Each command on Spark (the record) and on the log holding the same rows: Spark's
    figures must be the log's, to 1e-9."""
    load_record(url, record)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    log = ["--log", url, "--role", ROLE]
    spark = ["--engine", "spark", "--record", str(record), "--master", "local[2]"]
    model = ["--model-dir", str(model_dir)]
    commands = {
        "drift": (["monitor", "drift", *model, *log], ["monitor", "drift", *model, *spark]),
        "drift --by month": (
            ["monitor", "drift", *model, *log, "--by", "month"],
            ["monitor", "drift", *model, *spark, "--by", "month"],
        ),
        "performance": (
            ["monitor", "performance", *log],
            ["monitor", "performance", *spark, "--log", url],
        ),
    }
    for name, sides in commands.items():
        if name not in only:
            continue
        local, on_spark = (
            subprocess.run(
                bankrisk(*side, "--json"), env=env, capture_output=True, text=True, check=False
            )
            for side in sides
        )
        if local.returncode not in FINDINGS or on_spark.returncode != local.returncode:
            raise SystemExit(
                f"{name}: exit {local.returncode} on the log, {on_spark.returncode} "
                f"on Spark: {_without_frames(local.stderr + on_spark.stderr)}"
            )
        found = differences(json.loads(local.stdout), json.loads(on_spark.stdout))
        verdict = "the same figures" if not found else f"{len(found)} differences: {found[:3]}"
        print(f"  {name:<18} Spark and the log: {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE.parent.parent / "shared/data/default_of_credit_card_clients.csv",
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--store", nargs="+", choices=["sqlite", "postgresql", "spark"], default=["sqlite"]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="--store spark: also load the record into the log and compare the figures",
    )
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=COMMANDS,
        default=list(COMMANDS),
        help="which commands to time (default: all)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="monitoring-scale-"))
    server = None
    if "postgresql" in args.store:
        from helpers.postgres import PostgresServer

        server = PostgresServer()  # started by its constructor
    try:
        for kind in args.store:
            for rows in args.rows:
                if kind in ("sqlite", "spark"):
                    url = f"sqlite:///{folder / f'log-{rows}.db'}"
                else:
                    assert server is not None
                    url = server.create_database()
                print(f"{kind}, {rows:,} rows:", flush=True)
                store = open_store(url, connect_timeout=3600)  # a copy takes minutes
                assert store is not None
                record = folder / f"record-{rows}" if kind == "spark" else None
                if record is not None:
                    fill_record(record, store, args.model_dir, args.data, rows)
                else:
                    fill(store, args.model_dir, args.data, rows)
                    if kind == "postgresql":
                        settle(store)
                store.close()
                run(url, args.model_dir, args.rounds, args.commands, record)
                if record is not None and args.compare:
                    compare(url, record, args.model_dir, args.commands)
                if kind in ("sqlite", "spark"):
                    (folder / f"log-{rows}.db").unlink()
                if record is not None:
                    shutil.rmtree(record)
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
