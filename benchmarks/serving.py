"""Serving benchmark: bankrisk's API against its floor and `mlflow models serve`, alternating.

Starts three servers on 127.0.0.1, one worker each: `bankrisk serve` on the champion bundle,
a bare FastAPI app that only validates the same body (benchmarks/floor_app.py), and
`mlflow models serve` on the registered champion. Each round drives every server in turn
with wrk (a C load generator) at concurrency 1 and 32 on the same customer. Server CPU per
request comes from /proc (the server's whole process tree), RSS after warm-up likewise, and
cold start is process start to the first 200 from its readiness path.

    make benchmark-serving        # after `make run` has trained a champion
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    cold_start_s: float = float("nan")
    rss_mb: float = float("nan")
    results: dict[int, list[dict[str, float]]] = field(default_factory=dict)


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree."""
    ticks = 0
    for p in descendants(pid):
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
        env=env,
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
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    percentiles = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "cpu_us_per_request": cpu / max(requests, 1) * 1e6,
        "errors": float(bad.group(1)) if bad else 0.0,
    }


def batch_p50_ms(port: int, rows: int, repeats: int) -> float:
    body = json.dumps({"records": [CUSTOMER] * rows}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        conn.request("POST", "/v1/predict/batch", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"batch answered {response.status}")
        times.append((time.perf_counter() - began) * 1e3)
    conn.close()
    return statistics.median(times)


def median_of(server: Server, connections: int, key: str) -> float:
    return statistics.median(r[key] for r in server.results[connections])


def report(servers: list[Server], batch_ms: float) -> None:
    print(
        f"\n{'server':<10}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/req':>12}{'RSS MB':>9}{'cold s':>8}"
    )
    for s in servers:
        for c in sorted(s.results):
            print(
                f"{s.name:<10}{c:>5}{median_of(s, c, 'rps'):>10.0f}"
                f"{median_of(s, c, 'p50_ms'):>9.3f}{median_of(s, c, 'p99_ms'):>9.3f}"
                f"{median_of(s, c, 'cpu_us_per_request'):>12.0f}{s.rss_mb:>9.0f}"
                f"{s.cold_start_s:>8.2f}"
            )
    by_name = {s.name: s for s in servers}
    ours, floor = by_name["bankrisk"], by_name["floor"]
    print("\nGoals (1 worker, 1-row /v1/predict with reason codes):")

    def goal(text: str, value: float, ok: bool) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {value:.3g}")

    ratio = median_of(ours, 32, "rps") / median_of(floor, 32, "rps")
    goal("throughput at c=32 vs floor (>= 0.5)", ratio, ratio >= 0.5)
    if "mlflow" in by_name:
        ratio_ml = median_of(ours, 32, "rps") / median_of(by_name["mlflow"], 32, "rps")
        goal("throughput at c=32 vs mlflow models serve (>= 10)", ratio_ml, ratio_ml >= 10)
    p99 = median_of(ours, 32, "p99_ms") / median_of(floor, 32, "p99_ms")
    goal("p99 at c=32 vs floor (<= 2)", p99, p99 <= 2)
    goal(
        "p50 at c=1, ms (<= 0.5)", median_of(ours, 1, "p50_ms"), median_of(ours, 1, "p50_ms") <= 0.5
    )
    cpu = median_of(ours, 32, "cpu_us_per_request")
    goal("server CPU per request at c=32, us (<= 250)", cpu, cpu <= 250)
    goal("1,000-row batch p50, ms (<= 15)", batch_ms, batch_ms <= 15)
    goal("RSS after warm-up, MB (<= 200)", ours.rss_mb, ours.rss_mb <= 200)
    goal("process start to /ready 200, s (<= 2)", ours.cold_start_s, ours.cold_start_s <= 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="models/champion")
    parser.add_argument("--model-uri", default="models:/bank-default-risk@champion")
    parser.add_argument("--seconds", type=int, default=8, help="per load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: `make benchmark-serving` installs it (apt-get install wrk)")
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",  # mlflow serve execs `uvicorn`
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
    }
    env.pop("PORT", None)
    servers = [
        Server(
            "bankrisk",
            [str(BIN / "bankrisk"), "serve", "--model-dir", args.model_dir, "--port", "{port}"],
            "/ready",
            "/v1/predict",
            CUSTOMER,
        ),
        Server(
            "floor",
            [sys.executable, str(HERE / "floor_app.py"), "--port", "{port}"],
            "/ready",
            "/predict",
            CUSTOMER,
        ),
    ]
    if not args.skip_mlflow:
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
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for server in servers:
                start(server, env)
                wrk(server, 8, 2, Path(tmp))  # warm-up
                assert server.process is not None
                server.rss_mb = rss_mb(server.process.pid)
                print(
                    f"{server.name}: ready in {server.cold_start_s:.2f} s, "
                    f"RSS {server.rss_mb:.0f} MB",
                    flush=True,
                )
            for round_no in range(args.rounds):
                for connections in (1, 32):
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
            batch_ms = batch_p50_ms(servers[0].port, 1000, 30)
        report(servers, batch_ms)
    finally:
        for server in servers:
            stop(server)


if __name__ == "__main__":
    main()
