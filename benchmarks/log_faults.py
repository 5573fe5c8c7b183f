"""The decision record under faults: customers answered, logged and lost for each fault the
prediction log must survive, through a real `bankrisk serve` on 127.0.0.1 under load.

    .venv/bin/python benchmarks/log_faults.py --model-dir models/champion \
        [--faults writer-kill postgres-outage server-kill soak] [--outage 30] [--soak 600]

- `writer-kill`: SIGKILL the log's writer process twice, 3 s apart (SQLite log).
- `postgres-outage`: stop PostgreSQL for `--outage` seconds under load, then start it.
- `server-kill`: SIGKILL the server itself (SQLite log): its last moment's rows are lost.
- `soak`: `--soak` seconds at c=`--clients` (single customers, log on PostgreSQL): errors,
  the service's RSS (with its writer process) each minute, rows logged.

Load: client threads in this process (not the server's), posting single customers and
batches of 25 back to back. Answered = customers in 200 answers; logged = those whose
request's rows are all in the log afterwards; duplicates = rows beyond one per customer
(a re-send after a writer's death).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.api import customer  # noqa: E402
from helpers.log_faults import logged_by_request, metric, wait_for, writer_pid  # noqa: E402
from helpers.log_load import LOAD_THREADS, Load  # noqa: E402
from helpers.postgres import PostgresServer  # noqa: E402
from helpers.processes import server  # noqa: E402


def tally(loads: list[Load], url: str, label: str) -> None:
    answered: dict[str, int] = {}
    for load in loads:
        answered.update(load.answered)
    logged = logged_by_request(url)
    lost = sum(max(0, n - logged.get(r, 0)) for r, n in answered.items())
    duplicates = sum(max(0, logged.get(r, 0) - n) for r, n in answered.items())
    errors = sum(len(load.other_statuses) for load in loads)
    print(
        f"{label}: answered {sum(answered.values()):,}, logged {sum(answered.values()) - lost:,}, "
        f"lost {lost:,}, duplicates {duplicates:,}, non-200 answers {errors:,}",
        flush=True,
    )


def start_load(port: int, seconds: float) -> list[Load]:
    loads = [Load(port, n, seconds=seconds) for n in range(LOAD_THREADS)]
    for load in loads:
        load.start()
    return loads


def stop_load(loads: list[Load]) -> None:
    for load in loads:
        load.halt.set()
        load.join(60)


def writer_kill(model_dir: Path, folder: Path) -> None:
    url = f"sqlite:///{folder / 'writer-kill.db'}"
    with server(model_dir, cwd=folder, BANKRISK_PREDICTION_LOG=url) as running:
        loads = start_load(running.port, 120)
        for _ in range(2):
            time.sleep(3)
            pid = wait_for(lambda: writer_pid(running.process.pid), "the writer")
            assert isinstance(pid, int)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda p=pid: writer_pid(running.process.pid) not in (None, p), "a new writer")  # type: ignore[misc]
        time.sleep(3)
        stop_load(loads)
        running.stop()
    tally(loads, url, "writer process SIGKILLed twice")


def postgres_outage(model_dir: Path, folder: Path, pg: PostgresServer, outage: float) -> None:
    url = pg.create_database()
    with server(model_dir, cwd=folder, BANKRISK_PREDICTION_LOG=url) as running:
        loads = start_load(running.port, outage + 120)
        time.sleep(3)
        pg.stop()
        time.sleep(outage)
        spooled = metric(running.url, "bankrisk_prediction_log_spool_bytes")
        age = metric(running.url, "bankrisk_prediction_log_spool_age_seconds")
        pg.start()
        time.sleep(3)
        stop_load(loads)
        started = time.monotonic()
        wait_for(lambda: metric(running.url, "bankrisk_prediction_log_spool_bytes") == 0, "replay")
        print(
            f"  spool at the end of the outage: {spooled / 1e6:.1f} MB, oldest rows "
            f"{age:.0f} s; emptied {time.monotonic() - started:.1f} s after the load stopped",
            flush=True,
        )
        running.stop()
    tally(loads, url, f"PostgreSQL stopped for {outage:.0f} s")


def server_kill(model_dir: Path, folder: Path) -> None:
    url = f"sqlite:///{folder / 'server-kill.db'}"
    with server(model_dir, cwd=folder, BANKRISK_PREDICTION_LOG=url) as running:
        loads = start_load(running.port, 120)
        time.sleep(5)
        child = writer_pid(running.process.pid)
        running.process.kill()
        running.process.wait(60)
        stop_load(loads)
        wait_for(lambda: child is None or not Path(f"/proc/{child}").exists(), "the writer")
    tally(loads, url, "server SIGKILLed")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    total = 0
    for candidate in [pid, *(int(c) for c in _children(pid))]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def soak(model_dir: Path, folder: Path, pg: PostgresServer, seconds: float, clients: int) -> None:
    url = pg.create_database()
    answered = [0] * clients
    errors = [0] * clients
    halt = threading.Event()

    def client(number: int, port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            i = 0
            while not halt.is_set():
                i += 1
                try:
                    response = http.post("/v1/predict", json=customer(customer_id=f"S{number}-{i}"))
                except httpx.TransportError:
                    errors[number] += 1
                    continue
                if response.status_code == 200:
                    answered[number] += 1
                else:
                    errors[number] += 1

    with server(model_dir, cwd=folder, BANKRISK_PREDICTION_LOG=url) as running:
        threads = [
            threading.Thread(target=client, args=(n, running.port), daemon=True)
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(60.0, max(0.0, end - time.monotonic())))
            samples.append(rss_mb(running.process.pid))
            print(f"  {len(samples)} min: service RSS {samples[-1]:.0f} MB", flush=True)
        halt.set()
        for thread in threads:
            thread.join(60)
        running.stop()
    logged = sum(logged_by_request(url).values())
    last = samples[len(samples) // 2 :]
    print(
        f"soak {seconds:.0f} s at c={clients}: answered {sum(answered):,}, logged {logged:,}, "
        f"errors {sum(errors):,}; RSS over the last half {min(last):.0f}-{max(last):.0f} MB "
        f"(median {statistics.median(last):.0f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument(
        "--faults",
        nargs="+",
        choices=["writer-kill", "postgres-outage", "server-kill", "soak"],
        default=["writer-kill", "postgres-outage", "server-kill"],
    )
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--soak", type=float, default=600.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/log-faults"))
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    pg = PostgresServer() if {"postgres-outage", "soak"} & set(args.faults) else None
    try:
        for fault in args.faults:
            if fault == "writer-kill":
                writer_kill(args.model_dir, args.folder)
            elif fault == "postgres-outage":
                assert pg is not None
                postgres_outage(args.model_dir, args.folder, pg, args.outage)
            elif fault == "server-kill":
                server_kill(args.model_dir, args.folder)
            else:
                assert pg is not None
                soak(args.model_dir, args.folder, pg, args.soak, args.clients)
    finally:
        if pg is not None:
            pg.destroy()


if __name__ == "__main__":
    main()
