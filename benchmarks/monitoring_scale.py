"""Monitoring at a bank's scale: time and peak RSS of `bankrisk monitor drift` and `bankrisk
monitor performance` on prediction logs of millions of rows, SQLite and PostgreSQL.

The log: the shared data's 24,000 customers scored by the champion (as the service logs them,
spread over twelve months of 2026), then copied until it holds `--rows` rows, each copy a new
set of customers (`ID.k`) with the same outcomes, which are stored for every customer. Each
command runs in its own process, as a user runs it; its wall time and peak RSS (its own, from
`wait4`) are printed, median and range over `--rounds`.

    .venv/bin/python benchmarks/monitoring_scale.py --model-dir models/champion \\
        --rows 1000000 10000000 --store sqlite postgresql
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, literal, select

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.load import load_dataset
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
            marked = select(
                (outcomes.c.customer_id + literal(f".{copy}")),
                outcomes.c.defaulted,
                outcomes.c.source,
                outcomes.c.ingested_at,
            ).where(~outcomes.c.customer_id.contains("."))
            connection.execute(
                insert(outcomes).from_select(
                    ["customer_id", "defaulted", "source", "ingested_at"], marked
                )
            )
            held += take
            copy += 1
        count = connection.execute(select(func.count()).select_from(predictions)).scalar_one()
    print(f"  log filled: {count:,} predictions", flush=True)


COMMANDS = ("drift", "drift --by month", "performance")


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: drift alerted
        assert process.stderr is not None
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def bankrisk(*args: str) -> list[str]:
    code = "import sys; from bankrisk.cli import main; main(sys.argv[1:])"
    return [sys.executable, "-c", code, *args]


def run(url: str, model_dir: Path, rounds: int, only: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    commands = {
        "drift": bankrisk(
            "monitor", "drift", "--log", url, "--model-dir", str(model_dir), "--json"
        ),
        "drift --by month": bankrisk(
            "monitor",
            "drift",
            "--log",
            url,
            "--model-dir",
            str(model_dir),
            "--by",
            "month",
            "--json",
        ),
        "performance": bankrisk("monitor", "performance", "--log", url, "--json"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE.parent.parent / "shared/data/default_of_credit_card_clients.csv",
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--store", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"])
    parser.add_argument("--rounds", type=int, default=3)
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
                if kind == "sqlite":
                    url = f"sqlite:///{folder / f'log-{rows}.db'}"
                else:
                    assert server is not None
                    url = server.create_database()
                print(f"{kind}, {rows:,} rows:", flush=True)
                store = open_store(url, connect_timeout=3600)  # a copy takes minutes
                assert store is not None
                fill(store, args.model_dir, args.data, rows)
                store.close()
                run(url, args.model_dir, args.rounds, args.commands)
                if kind == "sqlite":
                    (folder / f"log-{rows}.db").unlink()
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
