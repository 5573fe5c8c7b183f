"""A/B of two copies of bankrisk's source (e.g. `main` before a change and the work tree),
alternating in one run, as an outside client sees the service in its default configuration
(the prediction log on, SQLite, in a temporary folder; everything else default).

Per round, for each copy and for a bare FastAPI app that only validates the same body
(benchmarks/floor_app.py, the baseline of the same round):
- wrk at concurrency 1 and 32 on /v1/predict: requests/s and the server's CPU per request,
  its whole process tree (the prediction log's writer process included) and its own
  process alone (`own_cpu`: the rest is the writer's);
- a batch never stalls the single customers: one client process posts 10,000-record
  batches back to back while another times 300 sequential single /v1/predict calls: their
  p50 and p99, and the batch throughput (records/s).

Figures are medians with the range (min-max) over rounds.

    .venv/bin/python benchmarks/ab_serving.py --model-dir models/champion \\
        --a /path/to/old/src --b src --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import BIG_BATCH, CUSTOMER, HERE, Server, floor_server, spread, start, stop, wrk

SINGLES = 300
WRK_FIGURES = ("rps", "cpu_us_per_request", "own_cpu_us_per_request", "p99_ms")
# The two client processes of the stall test (plain http.client: no third-party code).
_BATCHES = """
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
customer = json.loads(sys.argv[3])
body = json.dumps({"records": [{**customer, "customer_id": f"B-{i:05d}"} for i in range(BIG)]})
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
began, batches = time.perf_counter(), 0
while time.perf_counter() - began < seconds:
    conn.request("POST", "/v1/predict/batch", body, {"Content-Type": "application/json"})
    response = conn.getresponse(); response.read()
    assert response.status == 200, response.status
    batches += 1
print(json.dumps({"records_per_s": batches * BIG / (time.perf_counter() - began)}))
""".replace("BIG", str(BIG_BATCH))
_SINGLES = """
import http.client, json, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
body = sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
times = []
for _ in range(count):
    began = time.perf_counter()
    conn.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse(); response.read()
    assert response.status == 200, response.status
    times.append((time.perf_counter() - began) * 1000)
    time.sleep(0.01)
times.sort()
print(json.dumps({"p50_ms": times[len(times) // 2], "p99_ms": times[int(len(times) * 0.99)]}))
"""


def stall(server: Server, seconds: float) -> dict[str, float]:
    """Singles timed by one process while another posts big batches back to back."""
    customer = json.dumps(CUSTOMER)
    batches = subprocess.Popen(
        [sys.executable, "-c", _BATCHES, str(server.port), str(seconds), customer],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the first batch is under way
    singles = subprocess.run(
        [sys.executable, "-c", _SINGLES, str(server.port), str(SINGLES), customer],
        capture_output=True,
        text=True,
        check=True,
    )
    out, _ = batches.communicate(timeout=seconds + 120)
    return {**json.loads(singles.stdout), **json.loads(out)}


def bankrisk(name: str, src: Path, model_dir: str, log_dir: Path) -> Server:
    code = "import sys; from bankrisk.cli import app; sys.argv[0] = 'bankrisk'; app()"
    return Server(
        name,
        [sys.executable, "-c", code, "serve", "--model-dir", model_dir, "--port", "{port}"],
        "/ready",
        "/v1/predict",
        CUSTOMER,
        {
            "PYTHONPATH": str(src.resolve()),
            "BANKRISK_PREDICTION_LOG": f"sqlite:///{log_dir / f'{name}.db'}",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="models/champion")
    parser.add_argument("--a", type=Path, required=True, help="the src folder before")
    parser.add_argument("--b", type=Path, default=HERE.parent / "src", help="the src after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="per load run")
    parser.add_argument("--skip-stall", action="store_true")
    parser.add_argument("--stall-only", action="store_true", help="only the batch-stall test")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
    env.pop("PORT", None)
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        servers = [
            bankrisk("A", args.a, args.model_dir, log_dir),
            bankrisk("B", args.b, args.model_dir, log_dir),
        ]
        if not args.stall_only:
            servers.append(floor_server())
        results: dict[str, dict[str, list[float]]] = {s.name: {} for s in servers}
        try:
            for server in servers:
                start(server, env)
                for c in (1, 32):  # warm-up
                    wrk(server, c, 2, log_dir)
            for _ in range(args.rounds):
                for server in servers:
                    for c in () if args.stall_only else (1, 32):
                        got = wrk(server, c, args.seconds, log_dir)
                        for key in WRK_FIGURES:
                            results[server.name].setdefault(f"c{c}_{key}", []).append(got[key])
                    if server.name != "floor" and not args.skip_stall:
                        for key, value in stall(server, 20).items():
                            results[server.name].setdefault(f"stall_{key}", []).append(value)
        finally:
            for server in servers:
                stop(server)
    for name, figures in results.items():
        print(f"{name}:")
        for key, values in figures.items():
            print(f"  {key:28s} {spread(values, '.4g')}")
    for name in () if args.stall_only else ("A", "B"):
        ratio = [
            x / f
            for x, f in zip(
                results[name]["c1_cpu_us_per_request"],
                results["floor"]["c1_cpu_us_per_request"],
                strict=True,
            )
        ]
        print(f"{name}: c=1 CPU per request / floor's: {spread(ratio, '.3g')}")
    for key in ("c32_rps", "c1_cpu_us_per_request", "stall_records_per_s"):
        if key in results["A"]:
            ratio = [b / a for a, b in zip(results["A"][key], results["B"][key], strict=True)]
            print(f"B/A {key}: {spread(ratio, '.3f')} (median {statistics.median(ratio):.3f})")


if __name__ == "__main__":
    main()
