"""Scoring by customer id (`POST /v1/predict/customer/{id}`) against each online store: SQLite
(the project's feature_repo configuration), Bigtable and Datastore (their gcloud emulators)
and Redis (redis-server), at concurrency 1 and 32.

Starts each store's server on 127.0.0.1 as the tests do (tests/helpers/gcp_emulators.py),
loads the 24,000 shared customers into a temporary repository with `bankrisk features
materialize` (the project's feature_store.<store>.yaml), and runs one `bankrisk serve` (one
worker) per store. Each round drives every server in turn with wrk (a C load generator, a
separate process), every request a random customer of the file (its IDs: 24,000 of 1 to
30,000), after an unmeasured warm-up (`--warm-up`: 30 s at c=32 on each; the Datastore
emulator's Java runtime otherwise spends the first rounds compiling). Figures are the median
and the spread (min-max) over rounds; the goal (p99 <= 5 ms at c=1) is PASS only if it holds
in every round. The emulators are not the managed services: see docs/feature-store.md.

    .venv/bin/python benchmarks/feature_store_by_id.py [--rounds 3] [--seconds 10]
        [--stores sqlite,bigtable,datastore,redis] [--model-dir models/champion] [--reads 4000]
        [--warm-up 30]

`--reads N` also times N reads of each store from the benchmark's own process, one at a
time and without HTTP, after each round: what the store and its client cost alone.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from helpers.feature_store import (  # noqa: E402
    ONLINE_STORES,
    new_repo,
    new_store_repo,
    start_store_server,
)
from helpers.processes import BANKRISK, clean_env, server  # noqa: E402
from serving import cpu_seconds  # noqa: E402 - a process tree's CPU time, from /proc

SHARED_CSV = HERE.parents[1] / "shared" / "data" / "default_of_credit_card_clients.csv"
GOAL_P99_MS = 5.0
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def customer_ids(data: Path) -> list[str]:
    return [str(i) for i in pd.read_csv(data, usecols=["ID"])["ID"]]


def wrk_script(ids: list[str]) -> str:
    """wrk's Lua: every request one of the customers, at random."""
    listed = ",".join(f'"{i}"' for i in ids)
    return (
        'wrk.method = "POST"\n'
        "math.randomseed(7)\n"
        f"local ids = {{{listed}}}\n"
        "request = function()\n"
        '  return wrk.format(nil, "/v1/predict/customer/" .. ids[math.random(#ids)])\n'
        "end\n"
    )


@dataclass
class Store:
    name: str
    url: str = ""
    service_pid: int = 0
    store_pid: int | None = None  # the emulator's or redis-server's process (group leader)
    repo: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    results: dict[int, list[dict[str, float]]] = field(default_factory=dict)


def materialize(repo: Path, data: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BANKRISK), "features", "materialize", "--repo", str(repo), "--data", str(data)],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"materialize into {repo} failed: {done.stdout}{done.stderr}")
    print(f"  {done.stdout.strip().splitlines()[-1]}", flush=True)


@contextmanager
def store_service(name: str, model_dir: Path, data: Path, workdir: Path) -> Iterator[Store]:
    """The store's server (none for SQLite), loaded, and a `bankrisk serve` on it."""
    with ExitStack() as stack:
        env: dict[str, str] = {}
        store = Store(name)
        if name == "sqlite":
            repo = new_repo(workdir / name)
        else:
            emulator, env = start_store_server(name)
            stack.callback(emulator.stop)
            store.store_pid = emulator.process.pid
            repo = new_store_repo(workdir / name, name)
        materialize(repo, data, env)
        running = stack.enter_context(server(model_dir, BANKRISK_FEATURE_REPO=str(repo), **env))
        warm_up(running.url, customer_ids(data))
        store.url, store.service_pid = running.url, running.process.pid
        store.repo, store.env = repo, env
        yield store


def reads_alone(store: Store, ids: list[str], reads: int, seed: int) -> str:
    """`reads` one-customer reads of the store from this process, one at a time, through the
    service's reader (`OnlineFeatures.read_many`) without HTTP: the store and its client
    alone. Their p50, p99 and slowest, in ms."""
    from bankrisk.feature_store.online import OnlineFeatures

    os.environ.update(store.env)  # the emulators' addresses (each store has its own names)
    features = OnlineFeatures(store.repo)
    features.open()
    chosen = random.Random(seed).choices(ids, k=reads)
    took = []
    for customer_id in chosen:
        began = time.perf_counter()
        features.read_many([customer_id])
        took.append((time.perf_counter() - began) * 1000)
    features.close()
    p50, p99 = (statistics.quantiles(took, n=100)[i] for i in (49, 98))
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, slowest {max(took):.1f} ms"


def warm_up(url: str, ids: list[str]) -> None:
    """Until the store is open (its first by-id answer), then a few hundred more."""
    deadline = time.monotonic() + 120
    while httpx.post(f"{url}/v1/predict/customer/{ids[0]}", timeout=60).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} does not score by id")
        time.sleep(0.2)
    for customer_id in ids[:300]:
        httpx.post(f"{url}/v1/predict/customer/{customer_id}", timeout=60)


def wrk(store: Store, connections: int, seconds: int, script: Path) -> dict[str, float]:
    """One run of wrk; with the CPU time the service and the store's server spent on it."""
    pids = [store.service_pid, *([store.store_pid] if store.store_pid else [])]
    cpu_before = [cpu_seconds(pid) for pid in pids]
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    out = subprocess.run(
        [*command, store.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    requests = re.search(r"(\d+) requests in", out)
    percentiles = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps is not None, out
    count = max(int(requests.group(1)), 1) if requests else 1
    return {
        "rps": float(rps.group(1)),
        "service_cpu_ms": cpu[0] / count * 1e3,
        "store_cpu_ms": cpu[1] / count * 1e3 if len(cpu) > 1 else float("nan"),
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(stores: list[Store]) -> None:
    print(
        f"\n{'store':<10} {'c':>3}  {'p50 ms':<20} {'p99 ms':<24} {'requests/s':<18} "
        f"{'CPU ms/request: service':<24} {'store':<8} non-2xx",
        flush=True,
    )
    for store in stores:
        for connections, runs in store.results.items():
            store_cpu = statistics.median(r["store_cpu_ms"] for r in runs)
            print(
                f"{store.name:<10} {connections:>3}  "
                f"{spread([r['p50_ms'] for r in runs], '.2f'):<20} "
                f"{spread([r['p99_ms'] for r in runs], '.2f'):<24} "
                f"{spread([r['rps'] for r in runs], '.0f'):<18} "
                f"{statistics.median(r['service_cpu_ms'] for r in runs):<24.2f} "
                f"{'-' if store_cpu != store_cpu else f'{store_cpu:.2f}':<8} "
                f"{int(sum(r['non_2xx'] for r in runs))}"
            )
    print(f"\ngoal: p99 <= {GOAL_P99_MS:g} ms at c=1, in every round")
    for store in stores:
        worst = max(r["p99_ms"] for r in store.results[1])
        verdict = "PASS" if worst <= GOAL_P99_MS else "FAIL"
        print(f"  {store.name:<10} {verdict} (worst round {worst:.2f} ms)")


def default_model_dir(workdir: Path) -> Path:
    """models/champion when `make run` has trained one, else the tests' small bundle."""
    champion = HERE.parent / "models" / "champion"
    if (champion / "manifest.json").is_file():
        return champion
    from helpers.factories import make_bundle

    bundle = workdir / "bundle"
    make_bundle().save(bundle)
    print(f"no models/champion: the tests' bundle ({bundle})", flush=True)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per run of wrk")
    parser.add_argument("--stores", default=",".join(("sqlite", *ONLINE_STORES)))
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--data", type=Path, default=SHARED_CSV)
    parser.add_argument(
        "--reads", type=int, default=0, help="also time this many reads alone, each round"
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=30,
        help="seconds of wrk at c=32 on each service before the rounds, not measured",
    )
    args = parser.parse_args()
    names = args.stores.split(",")
    with tempfile.TemporaryDirectory(prefix="bankrisk-by-id-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        script = workdir / "by_id.lua"
        ids = customer_ids(args.data)
        script.write_text(wrk_script(ids))
        model_dir = args.model_dir or default_model_dir(workdir)
        stores = []
        for name in names:
            print(f"{name}: starting, loading {args.data.name}", flush=True)
            stores.append(stack.enter_context(store_service(name, model_dir, args.data, workdir)))
        for store in stores:  # the emulators' JVM and Go runtimes compile and size as they run
            if args.warm_up:
                wrk(store, 32, args.warm_up, script)
        for round_number in range(1, args.rounds + 1):
            for store in stores:
                for connections in (1, 32):
                    run = wrk(store, connections, args.seconds, script)
                    store.results.setdefault(connections, []).append(run)
                    print(
                        f"round {round_number} {store.name} c={connections}: "
                        f"p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
                        f"{run['rps']:.0f}/s, CPU ms/request {run['service_cpu_ms']:.2f} "
                        f"(store {run['store_cpu_ms']:.2f}), non-2xx {run['non_2xx']:.0f}",
                        flush=True,
                    )
                if args.reads:
                    alone = reads_alone(store, ids, args.reads, seed=round_number)
                    print(f"round {round_number} {store.name} reads alone: {alone}", flush=True)
        report(stores)


if __name__ == "__main__":
    main()
