"""Serving benchmark: bankrisk's API against its floor and `mlflow models serve`, alternating.

Starts three servers on 127.0.0.1, one worker each: `bankrisk serve` on the champion bundle,
a bare FastAPI app that only validates the same body (benchmarks/floor_app.py), and
`mlflow models serve` on the registered champion. Each round drives every server in turn
with wrk (a C load generator) at concurrency 1 and 32 on the same customer. Server CPU per
request comes from /proc (the server's whole process tree), RSS after warm-up likewise, and
cold start is process start to the first 200 from its readiness path.

A second scenario checks that a large batch does not stall everyone: one client posts
10,000-record batches back to back while wrk, on another connection, sends single customers
at concurrency 1; it reports their latency and the batch throughput (records/s), and the
batch throughput alone for comparison.

The cost of the prediction log: a second `bankrisk serve` on the same bundle writes every
scored customer to a SQLite log in a temporary directory (the first runs with
BANKRISK_PREDICTION_LOG=off); both are driven alternately and the log-on throughput at
concurrency 32 is compared with the log-off one of the same round (goal >= 0.9x).
`--log-only` runs just these two servers at concurrency 1 and 32.

The cost of a shadow challenger: a `bankrisk serve` with BANKRISK_CHALLENGER_DIR in shadow
mode (`--challenger-dir`, default the champion's bundle: a challenger as costly as the
champion) is driven alternately with the plain one; goal: at c=32 >= 0.7x its throughput in
the same round. `--shadow-only` runs just these two servers at concurrency 1 and 32.

Every figure is reported as the median and the spread (min-max) over rounds, and a goal is
PASS only if it holds in every round.

    make benchmark-serving        # after `make run` has trained a champion
"""

from __future__ import annotations

import argparse
import http.client
import json
import operator
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CUSTOMER = {
    "LIMIT_BAL": 50000,
    "SEX": 2,
    "EDUCATION": 2,
    "MARRIAGE": 1,
    "AGE": 37,
    "PAY_0": 2,
    "PAY_2": 0,
    "PAY_3": 0,
    "PAY_4": 0,
    "PAY_5": 0,
    "PAY_6": 0,
    "BILL_AMT1": 46990,
    "BILL_AMT2": 48233,
    "BILL_AMT3": 49291,
    "BILL_AMT4": 28314,
    "BILL_AMT5": 28959,
    "BILL_AMT6": 29547,
    "PAY_AMT1": 2000,
    "PAY_AMT2": 2019,
    "PAY_AMT3": 1200,
    "PAY_AMT4": 1100,
    "PAY_AMT5": 1069,
    "PAY_AMT6": 1000,
}


@dataclass
class Server:
    name: str
    command: list[str]
    ready_path: str
    predict_path: str
    body: dict[str, object]
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    cold_start_s: float = float("nan")
    rss_mb: float = float("nan")
    results: dict[int, list[dict[str, float]]] = field(default_factory=dict)


def floor_server() -> Server:
    """A bare FastAPI app that only validates the same body (benchmarks/floor_app.py)."""
    return Server(
        "floor",
        [sys.executable, str(HERE / "floor_app.py"), "--port", "{port}"],
        "/ready",
        "/predict",
        CUSTOMER,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def _proc(pid: int, name: str) -> str:
    """A /proc file of a process, or "" if the process has gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """The process and all its children (mlflow serves from a child process)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = (
            _proc(int(entry.name), "stat").rsplit(")", 1)[-1].split()
            if entry.name.isdigit()
            else []
        )
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """utime + stime of the process tree (or of the process alone)."""
    ticks = 0
    for p in descendants(pid) if tree else [pid]:
        fields = _proc(p, "stat").rsplit(")", 1)[-1].split()
        ticks += int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0
    return ticks / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    pages = 0
    for p in descendants(pid):
        fields = _proc(p, "statm").split()
        pages += int(fields[1]) if len(fields) > 1 else 0
    return pages * PAGE_SIZE / 2**20


def start(server: Server, env: dict[str, str], timeout: float = 120.0) -> None:
    server.port = free_port()
    command = [part.replace("{port}", str(server.port)) for part in server.command]
    began = time.perf_counter()
    server.process = subprocess.Popen(
        command,
        env={**env, **server.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while get(server.port, server.ready_path) != 200:
        if server.process.poll() is not None or time.perf_counter() - began > timeout:
            raise RuntimeError(f"{server.name} did not become ready: {' '.join(command)}")
        time.sleep(0.01)
    server.cold_start_s = time.perf_counter() - began


def stop(server: Server) -> None:
    if server.process and server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(server: Server, connections: int, seconds: int, workdir: Path) -> dict[str, float]:
    script = workdir / f"{server.name}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(server.body)}]]\n"
    )
    assert server.process is not None
    cpu_before = cpu_seconds(server.process.pid)
    own_before = cpu_seconds(server.process.pid, tree=False)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{server.port}{server.predict_path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(server.process.pid) - cpu_before
    own = cpu_seconds(server.process.pid, tree=False) - own_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    percentiles = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "max_ms": float(latency.group(1)) * _UNITS[latency.group(2)] if latency else float("nan"),
        "cpu_us_per_request": cpu / max(requests, 1) * 1e6,
        # The server process alone (not e.g. the prediction log's writer process).
        "own_cpu_us_per_request": own / max(requests, 1) * 1e6,
        "errors": float(bad.group(1)) if bad else 0.0,
    }


def batch_p50_ms(server: Server, rows: int, repeats: int) -> tuple[float, float]:
    """The median wall time of `repeats` sequential batches, and the server's CPU time per
    batch (both ms)."""
    assert server.process is not None
    body = json.dumps({"records": [CUSTOMER] * rows}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times = []
    cpu_before = cpu_seconds(server.process.pid)
    for _ in range(repeats):
        began = time.perf_counter()
        conn.request("POST", "/v1/predict/batch", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"batch answered {response.status}")
        times.append((time.perf_counter() - began) * 1e3)
    conn.close()
    cpu_ms = (cpu_seconds(server.process.pid) - cpu_before) / repeats * 1e3
    return statistics.median(times), cpu_ms


BIG_BATCH = 10_000


class BatchLoad(threading.Thread):
    """Posts BIG_BATCH-record batches back to back on one connection until stopped.

    The client only reads the response bytes (it does not parse them): its own work must not
    slow the server's single-customer answers down through the 2 shared cores more than
    needed.
    """

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.body = json.dumps(
            {"records": [{**CUSTOMER, "customer_id": f"B-{i:05d}"} for i in range(BIG_BATCH)]}
        ).encode()
        self.halt = threading.Event()
        self.batches = 0
        self.seconds = 0.0
        self.error: str | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        began = time.perf_counter()
        try:
            while not self.halt.is_set():
                conn.request(
                    "POST", "/v1/predict/batch", self.body, {"Content-Type": "application/json"}
                )
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"batch answered {response.status}")
                self.batches += 1
                self.seconds = time.perf_counter() - began
        except Exception as exc:  # reported by the caller
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def records_per_s(self) -> float:
        return self.batches * BIG_BATCH / self.seconds if self.seconds else float("nan")


def batch_contention(server: Server, seconds: int, workdir: Path) -> dict[str, float]:
    """Batch throughput alone (and the server's CPU per record), then with wrk sending single
    customers at c=1 alongside."""
    assert server.process is not None
    alone = BatchLoad(server.port)
    cpu_before = cpu_seconds(server.process.pid)
    alone.start()
    time.sleep(seconds)
    alone.halt.set()
    alone.join(60)  # the batch under way is finished: the CPU is that of whole batches
    cpu = cpu_seconds(server.process.pid) - cpu_before
    loaded = BatchLoad(server.port)
    loaded.start()
    time.sleep(0.5)  # the first batch is under way
    single = wrk(server, 1, seconds, workdir)
    loaded.halt.set()
    loaded.join(60)
    for load in (alone, loaded):
        if load.error:
            raise RuntimeError(f"batch load failed: {load.error}")
    return {
        "batch_records_per_s_alone": alone.records_per_s(),
        "batch_cpu_us_per_record": cpu / max(alone.batches * BIG_BATCH, 1) * 1e6,
        "batch_records_per_s": loaded.records_per_s(),
        "batches": float(loaded.batches),
        "single_p50_ms": single["p50_ms"],
        "single_p99_ms": single["p99_ms"],
        "single_max_ms": single["max_ms"],
        "single_rps": single["rps"],
    }


def spread(values: list[float], fmt: str) -> str:
    """`median (min-max)` of the rounds."""
    if len(values) == 1:
        return format(values[0], fmt)
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def of(server: Server, connections: int, key: str) -> list[float]:
    return [r[key] for r in server.results[connections]]


def per_round(
    combine: Callable[[float, float], float], xs: list[float], ys: list[float]
) -> list[float]:
    """`combine(x, y)` of each round's two figures (a ratio, a difference)."""
    return [combine(x, y) for x, y in zip(xs, ys, strict=True)]


def goal(text: str, values: list[float], ok: list[bool], fmt: str = ".3g") -> None:
    """PASS only when the goal holds in every round."""
    verdict = "PASS" if all(ok) else "FAIL"
    rounds = f" (median, min-max over {len(values)} rounds)" if len(values) > 1 else ""
    print(f"  {verdict}  {text}: {spread(values, fmt)}{rounds}")


def scrape(port: int) -> dict[str, float]:
    """Unlabelled samples of a server's /metrics (name: value)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.findall(r"^([a-z_]+) ([-+.\deE]+|NaN)$", text, re.MULTILINE)
    return {name: float(value) for name, value in found}


def throughput_ratio(what: str, connections: int, rps: list[float], least: float) -> None:
    """The throughput ratio of a comparison: a goal at c=32, a figure at other concurrency."""
    if connections == 32:
        goal(f"throughput at c=32, {what} (>= {least})", rps, [r >= least for r in rps])
    else:
        print(f"  ratio of throughputs at c={connections}: {spread(rps, '.3f')}")


def report_log_cost(off: Server, on: Server, log_metrics: dict[str, float]) -> None:
    print(
        "\nPrediction log (SQLite, every customer) on vs off, same rounds "
        "(median, min-max over rounds):"
    )
    for c in sorted(on.results):
        rps = per_round(operator.truediv, of(on, c, "rps"), of(off, c, "rps"))
        cpu_on = of(on, c, "cpu_us_per_request")
        cpu = per_round(operator.sub, cpu_on, of(off, c, "cpu_us_per_request"))
        writer = per_round(operator.sub, cpu_on, of(on, c, "own_cpu_us_per_request"))
        print(
            f"  c={c:<2} req/s off {spread(of(off, c, 'rps'), '.0f')}, "
            f"on {spread(of(on, c, 'rps'), '.0f')}; "
            f"p99 ms off {spread(of(off, c, 'p99_ms'), '.2f')}, "
            f"on {spread(of(on, c, 'p99_ms'), '.2f')}; "
            f"extra CPU us/req {spread(cpu, '.0f')}, of which the log's writer process "
            f"{spread(writer, '.0f')}"
        )
        throughput_ratio("log on vs off", c, rps, 0.9)
    written = log_metrics.get("bankrisk_prediction_log_written_total", float("nan"))
    dropped = log_metrics.get("bankrisk_prediction_log_dropped_total", float("nan"))
    print(f"  rows written to the log: {written:,.0f}, dropped: {dropped:,.0f}")


def report_shadow_cost(plain: Server, shadow: Server, shadow_metrics: dict[str, float]) -> None:
    print("\nShadow challenger on vs off, same rounds (median, min-max over rounds):")
    for c in sorted(shadow.results):
        rps = per_round(operator.truediv, of(shadow, c, "rps"), of(plain, c, "rps"))
        cpu = per_round(
            operator.truediv,
            of(plain, c, "cpu_us_per_request"),
            of(shadow, c, "cpu_us_per_request"),
        )
        print(
            f"  c={c:<2} req/s off {spread(of(plain, c, 'rps'), '.0f')}, "
            f"shadow {spread(of(shadow, c, 'rps'), '.0f')}; "
            f"p99 ms off {spread(of(plain, c, 'p99_ms'), '.2f')}, "
            f"shadow {spread(of(shadow, c, 'p99_ms'), '.2f')}; "
            f"CPU us/req off {spread(of(plain, c, 'cpu_us_per_request'), '.0f')}, "
            f"shadow {spread(of(shadow, c, 'cpu_us_per_request'), '.0f')} "
            f"(CPU-bound throughput ratio {spread(cpu, '.3f')})"
        )
        throughput_ratio("shadow vs none", c, rps, 0.7)
    dropped = shadow_metrics.get("bankrisk_shadow_dropped_total", float("nan"))
    print(f"  customers the shadow dropped: {dropped:,.0f}")


def wait_by_id(server: Server, timeout: float = 120.0) -> None:
    """Until scoring by id answers 200: the feature store opens after /ready (Feast's import)."""
    began = time.perf_counter()
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        try:
            conn.request("POST", server.predict_path)
            if conn.getresponse().status == 200:
                break
        finally:
            conn.close()
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"{server.name}: {server.predict_path} never answered 200")
        time.sleep(0.1)
    server.cold_start_s += time.perf_counter() - began


def report_by_id(plain: Server, by_id: Server) -> None:
    print(
        "\nScoring by id (fields from the Feast SQLite online store): /v1/predict vs by id, "
        "same rounds (median, min-max over rounds):"
    )
    for c in sorted(by_id.results):

        def both(key: str, fmt: str, c: int = c) -> str:
            return f"{spread(of(plain, c, key), fmt)} vs {spread(of(by_id, c, key), fmt)}"

        print(
            f"  c={c:<2} req/s {both('rps', '.0f')}; p50 ms {both('p50_ms', '.3f')}; "
            f"p99 ms {both('p99_ms', '.2f')}; CPU us/req {both('cpu_us_per_request', '.0f')}"
        )
    p50 = of(by_id, 1, "p50_ms")
    goal("by id: p50 at c=1, ms (<= 5)", p50, [v <= 5 for v in p50])
    print(f"  by id: RSS {by_id.rss_mb:.0f} MB, start to first 200 {by_id.cold_start_s:.1f} s")


def report(servers: list[Server], batch_ms: list[float]) -> None:
    print(
        "\nMedian (min-max) over rounds:\n"
        f"{'server':<10}{'conc':>5}{'req/s':>20}{'p50 ms':>22}{'p99 ms':>22}"
        f"{'CPU us/req':>16}{'RSS MB':>8}{'cold s':>8}"
    )
    for s in servers:
        for c in sorted(s.results):
            print(
                f"{s.name:<10}{c:>5}{spread(of(s, c, 'rps'), '.0f'):>20}"
                f"{spread(of(s, c, 'p50_ms'), '.3f'):>22}{spread(of(s, c, 'p99_ms'), '.3f'):>22}"
                f"{spread(of(s, c, 'cpu_us_per_request'), '.0f'):>16}{s.rss_mb:>8.0f}"
                f"{s.cold_start_s:>8.2f}"
            )
    by_name = {s.name: s for s in servers}
    if "floor" not in by_name:
        return
    ours, floor = by_name["bankrisk"], by_name["floor"]
    print("\nGoals (1 worker, 1-row /v1/predict with reason codes; PASS = held in every round):")

    def ratios(other: Server, key: str) -> list[float]:
        return per_round(operator.truediv, of(ours, 32, key), of(other, 32, key))

    ratio = ratios(floor, "rps")
    goal("throughput at c=32 vs floor (>= 0.5)", ratio, [r >= 0.5 for r in ratio])
    if "mlflow" in by_name:
        ratio_ml = ratios(by_name["mlflow"], "rps")
        goal(
            "throughput at c=32 vs mlflow models serve (>= 10)",
            ratio_ml,
            [r >= 10 for r in ratio_ml],
        )
    p99 = ratios(floor, "p99_ms")
    goal("p99 at c=32 vs floor (<= 2)", p99, [r <= 2 for r in p99])
    p50 = of(ours, 1, "p50_ms")
    goal("p50 at c=1, ms (<= 0.5)", p50, [v <= 0.5 for v in p50])
    for c in (1, 32):
        cpu = of(ours, c, "cpu_us_per_request")
        goal(f"server CPU per request at c={c}, us (<= 250)", cpu, [v <= 250 for v in cpu], ".0f")
    goal("1,000-row batch p50, ms (<= 15)", batch_ms, [v <= 15 for v in batch_ms])
    goal("RSS after warm-up, MB (<= 200)", [ours.rss_mb], [ours.rss_mb <= 200])
    goal(
        "process start to /ready 200, s (<= 2)",
        [ours.cold_start_s],
        [ours.cold_start_s <= 2],
    )


def report_contention(results: list[dict[str, float]], baseline: float | None) -> None:
    def values(key: str) -> list[float]:
        return [r[key] for r in results]

    print(
        f"\n{BIG_BATCH:,}-record batches back to back on one connection, single customers "
        "from wrk at c=1 alongside (median, min-max over rounds):"
    )
    print(f"  batch records/s alone:         {spread(values('batch_records_per_s_alone'), '.0f')}")
    print(f"  batch records/s with singles:  {spread(values('batch_records_per_s'), '.0f')}")
    print(f"  server CPU us/record, alone:   {spread(values('batch_cpu_us_per_record'), '.1f')}")
    print(f"  single p50 ms:                 {spread(values('single_p50_ms'), '.2f')}")
    print(f"  single p99 ms:                 {spread(values('single_p99_ms'), '.2f')}")
    print(f"  single max ms:                 {spread(values('single_max_ms'), '.2f')}")
    print(f"  single req/s:                  {spread(values('single_rps'), '.0f')}")
    p99 = values("single_p99_ms")
    goal(
        "single-customer p99 during 10,000-record batches, ms (<= 20)", p99, [v <= 20 for v in p99]
    )
    if baseline:
        alone = values("batch_records_per_s_alone")
        ratio = [v / baseline for v in alone]
        goal(
            f"batch throughput vs the baseline {baseline:.0f} records/s (>= 0.9)",
            ratio,
            [r >= 0.9 for r in ratio],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="models/champion")
    parser.add_argument("--model-uri", default="models:/bank-default-risk@champion")
    parser.add_argument("--seconds", type=int, default=8, help="per load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--contention-only",
        action="store_true",
        help="only bankrisk and only the batches-vs-single-customers scenario",
    )
    parser.add_argument(
        "--batch-only",
        action="store_true",
        help="only bankrisk: the 1,000-row batches and the batches-vs-single-customers scenario",
    )
    parser.add_argument(
        "--batch-baseline",
        type=float,
        default=None,
        help="records/s of 10,000-record batches before a change: the goal is >= 0.9x",
    )
    parser.add_argument(
        "--log-only",
        action="store_true",
        help="only bankrisk with the prediction log off and on (SQLite), at c=1 and 32",
    )
    parser.add_argument(
        "--shadow-only",
        action="store_true",
        help="only bankrisk without and with a shadow challenger, at c=1 and 32",
    )
    parser.add_argument(
        "--challenger-dir",
        default=None,
        help="the shadow challenger's bundle (default: --model-dir)",
    )
    parser.add_argument(
        "--no-shadow-compare",
        action="store_true",
        help="leave out the bankrisk server with a shadow challenger",
    )
    parser.add_argument(
        "--no-log-compare",
        action="store_true",
        help="leave out the second bankrisk server (prediction log on)",
    )
    parser.add_argument(
        "--feature-repo",
        default=None,
        help="a materialized Feast repository: adds bankrisk scoring by id from it",
    )
    parser.add_argument("--customer-id", default="1", help="the id scored by id")
    parser.add_argument(
        "--by-id-only",
        action="store_true",
        help="only bankrisk /v1/predict and by id (--feature-repo), at c=1 and 32",
    )
    args = parser.parse_args()
    if args.batch_only:
        args.contention_only = True
    if args.by_id_only and not args.feature_repo:
        parser.error("--by-id-only needs --feature-repo")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: `make benchmark-serving` installs it (apt-get install wrk)")
    env = {
        **os.environ,
        # Ahead of any PYTHONPATH given (which may point at another copy of bankrisk's src).
        "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",  # mlflow serve execs `uvicorn`
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
    }
    env.pop("PORT", None)
    log_dir = Path(tempfile.mkdtemp(prefix="bankrisk-bench-log-"))
    serve = [str(BIN / "bankrisk"), "serve", "--model-dir", args.model_dir, "--port", "{port}"]
    servers = [
        Server(
            "bankrisk", serve, "/ready", "/v1/predict", CUSTOMER, {"BANKRISK_PREDICTION_LOG": "off"}
        ),
    ]
    log_server = Server(
        "bank+log",
        serve,
        "/ready",
        "/v1/predict",
        CUSTOMER,
        {"BANKRISK_PREDICTION_LOG": f"sqlite:///{log_dir / 'predictions.db'}"},
    )
    shadow_server = Server(
        "bank+shad",
        serve,
        "/ready",
        "/v1/predict",
        CUSTOMER,
        {
            "BANKRISK_PREDICTION_LOG": "off",
            "BANKRISK_CHALLENGER_DIR": args.challenger_dir or args.model_dir,
            "BANKRISK_CHALLENGER_MODE": "shadow",
        },
    )
    if args.shadow_only:
        args.log_only = args.no_log_compare = True
    if args.by_id_only:
        args.log_only = args.no_log_compare = True
    by_id_server = Server(
        "bank+id",
        serve,
        "/ready",
        f"/v1/predict/customer/{args.customer_id}",
        {},
        {"BANKRISK_PREDICTION_LOG": "off", "BANKRISK_FEATURE_REPO": str(args.feature_repo)},
    )
    if args.feature_repo and not args.contention_only:
        servers.append(by_id_server)
    if not (args.contention_only or args.no_log_compare):
        servers.append(log_server)
    if not (args.contention_only or args.no_shadow_compare or args.log_only) or args.shadow_only:
        servers.append(shadow_server)
    if not (args.contention_only or args.log_only):
        servers.append(floor_server())
    if not (args.skip_mlflow or args.contention_only or args.log_only):
        servers.append(
            Server(
                "mlflow",
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    args.model_uri,
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "{port}",
                    "-w",
                    "1",
                ],
                "/ping",
                "/invocations",
                {"dataframe_records": [CUSTOMER]},
            )
        )
    contention: list[dict[str, float]] = []
    batch_ms: list[float] = []
    batch_cpu_ms: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for server in servers:
                start(server, env)
                if server is by_id_server:
                    wait_by_id(server)
                wrk(server, 8, 2, Path(tmp))  # warm-up
                assert server.process is not None
                server.rss_mb = rss_mb(server.process.pid)
                print(
                    f"{server.name}: ready in {server.cold_start_s:.2f} s, "
                    f"RSS {server.rss_mb:.0f} MB",
                    flush=True,
                )
            for round_no in range(args.rounds):
                for connections in () if args.contention_only else (1, 32):
                    for server in servers:
                        result = wrk(server, connections, args.seconds, Path(tmp))
                        server.results.setdefault(connections, []).append(result)
                        print(
                            f"round {round_no + 1} c={connections:<2} {server.name:<9} "
                            f"{result['rps']:8.0f} req/s p50 {result['p50_ms']:.3f} ms "
                            f"p99 {result['p99_ms']:.3f} ms "
                            f"cpu {result['cpu_us_per_request']:.0f} us/req",
                            flush=True,
                        )
                if args.log_only:
                    continue
                if args.batch_only or not args.contention_only:
                    wall_ms, cpu_ms = batch_p50_ms(servers[0], 1000, 30)
                    batch_ms.append(wall_ms)
                    batch_cpu_ms.append(cpu_ms)
                    print(
                        f"round {round_no + 1} 1,000-row batch p50 {wall_ms:.1f} ms, "
                        f"server CPU {cpu_ms:.1f} ms per batch",
                        flush=True,
                    )
                contention.append(batch_contention(servers[0], args.seconds, Path(tmp)))
                print(
                    f"round {round_no + 1} 10,000-row batches: "
                    + " ".join(f"{k} {v:.4g}" for k, v in contention[-1].items()),
                    flush=True,
                )
            log_metrics = scrape(log_server.port) if log_server in servers else {}
            shadow_metrics = scrape(shadow_server.port) if shadow_server in servers else {}
        if not (args.contention_only or args.log_only):
            report(servers, batch_ms)
        if log_server in servers:
            report_log_cost(servers[0], log_server, log_metrics)
        if shadow_server in servers:
            report_shadow_cost(servers[0], shadow_server, shadow_metrics)
        if by_id_server in servers:
            report_by_id(servers[0], by_id_server)
        if not args.log_only:
            report_contention(contention, args.batch_baseline)
        if batch_ms:
            print(f"  1,000-row batch server CPU, ms: {spread(batch_cpu_ms, '.1f')}")
        if args.batch_only:
            goal("1,000-row batch p50, ms (<= 15)", batch_ms, [v <= 15 for v in batch_ms])
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
