"""The analyst console's page speed on a large prediction log, and what browsing it costs the
scoring path.

One SQLite log of `--rows` predictions, built as `benchmarks/monitoring_scale.py` builds it
(the shared data's customers scored by the bundle over twelve months of 2026, copied until the
log is that long, with outcomes), plus two portfolio runs of the shared data recorded as
`bankrisk score --log` records them. Then two real processes on that log: `bankrisk console`
and `bankrisk serve`, each on its own port of 127.0.0.1.

1. Page server time, as a client measures it (request sent to the last byte, one keep-alive
   connection, one request at a time): each page `--requests` times per round, `--rounds`
   rounds; the p95 of each round, printed as the median and the range over rounds, against
   the goal p95 <= 300 ms. The Monitoring page is measured once the console's background
   computation has left its figures (the time that took is printed too).
2. Single-customer `POST /v1/predict` latency at concurrency 1, p99: idle, while a separate
   client process browses the Monitoring page as a user does (`--user-rate` pages a second),
   and while it browses flat out (a page as soon as the last one came), in turn in each
   round (goal: within 1 ms of idle).

    .venv/bin/python benchmarks/console_pages.py --model-dir models/champion --rows 10000000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
KEY = "benchmark-console-key"
GOAL_P95_MS = 300.0
GOAL_P99_DELTA_MS = 1.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
COMPUTED = 'id="row-count"'
COMPUTING = 'id="computing"'
MODELS_COMPUTING = "being computed in the background"


@dataclass(frozen=True)
class Page:
    """One page as the benchmark asks for it: a GET, or a POST of a form (with the
    session's CSRF token)."""

    name: str
    method: str
    path: str
    form: dict[str, str] | None = None


class Browser:
    """A signed-in console session on one keep-alive connection (cookies by hand)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""
        self.token = ""
        self.token = self._token(self.request("GET", "/sign-in")[1])
        status, _ = self.request("POST", "/sign-in", {"key": KEY})
        if status != 303:
            raise SystemExit(f"cannot sign in to the console (HTTP {status})")
        self.token = self._token(self.request("GET", "/portfolio")[1])

    @staticmethod
    def _token(html: str) -> str:
        found = CSRF.search(html)
        if found is None:
            raise SystemExit("no CSRF token on the console's page")
        return found.group(1)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode({**form, "csrf_token": self.token})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        cookie = response.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text

    def timed(self, page: Page) -> tuple[float, int]:
        start = time.perf_counter()
        status, _ = self.request(page.method, page.path, page.form)
        return (time.perf_counter() - start) * 1000, status


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ms ({min(values):.1f}-{max(values):.1f})"


# --- the log, the runs and the two processes ----------------------------------------------


def build_log(url: str, model_dir: Path, data: Path, rows: int, folder: Path) -> list[str]:
    """The log (monitoring_scale's `fill`) and two recorded runs; returns the runs' ids."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "tests"))
    from monitoring_scale import fill

    from bankrisk.bundle.model_bundle import ModelBundle
    from bankrisk.portfolio.local import score_file
    from bankrisk.portfolio.record import Run, recording
    from bankrisk.prediction_log.store import open_store
    from helpers.console_portfolio import as_of

    store = open_store(url, connect_timeout=3600)
    assert store is not None
    fill(store, model_dir, data, rows)
    bundle = ModelBundle.load(model_dir)
    runs = ["book-2026-11", "book-2026-12"]
    for month, run_id in zip((11, 12), runs, strict=True):
        run = Run(run_id, as_of(month), bundle.name, bundle.version)
        with recording(store, run) as record:
            score_file(model_dir, data, folder / f"{run_id}.parquet", record=record)
    store.close()
    print(f"  two portfolio runs recorded: {', '.join(runs)}", flush=True)
    return runs


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    command: list[str], env: dict[str, str], ready: Callable[[], bool]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{' '.join(command[:2])} did not start")
        time.sleep(0.2)
    return process


def answers(port: int, path: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- measurements -----------------------------------------------------------------------


def wait_for_figures(browser: Browser) -> float:
    """Seconds until the Monitoring and Models pages show computed figures."""
    start_s = time.monotonic()
    while True:
        _, html = browser.request("GET", "/monitoring")
        if COMPUTED in html and COMPUTING not in html:
            break
        time.sleep(1)
    while MODELS_COMPUTING in browser.request("GET", "/models")[1]:
        time.sleep(1)
    return time.monotonic() - start_s


def measure_pages(browser: Browser, pages: list[Page], rounds: int, requests: int) -> None:
    p95: dict[str, list[float]] = {p.name: [] for p in pages}
    statuses: dict[str, set[int]] = {p.name: set() for p in pages}
    # The first view of each page: imports, and a recorded run's first read from the log
    # (kept in the console's cache after).
    first = {page.name: browser.timed(page)[0] for page in pages}
    for _ in range(rounds):
        for page in pages:
            times = []
            for _ in range(requests):
                ms, status = browser.timed(page)
                times.append(ms)
                statuses[page.name].add(status)
            p95[page.name].append(percentile(times, 95))
    print(f"page server time, p95 over {requests} requests, median (range) of {rounds} rounds:")
    for page in pages:
        verdict = "PASS" if max(p95[page.name]) <= GOAL_P95_MS else "FAIL"
        codes = ",".join(str(s) for s in sorted(statuses[page.name]))
        print(
            f"  {page.name:<24} p95 {spread(p95[page.name])}  HTTP {codes}  {verdict}  "
            f"(first view {first[page.name]:.0f} ms)"
        )


def predict_latencies(port: int, count: int) -> list[float]:
    from serving import CUSTOMER

    body = json.dumps(CUSTOMER)
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(count):
        start_s = time.perf_counter()
        connection.request("POST", "/v1/predict", body, headers)
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter() - start_s) * 1000)
        if response.status != 200:
            raise SystemExit(f"POST /v1/predict answered {response.status}")
    connection.close()
    return times


def p99_while(serve_port: int, count: int, browse_command: list[str] | None) -> tuple[float, float]:
    """p99 of `count` predictions, while `browse_command` browses (None: idle); and the
    pages per second it browsed."""
    if browse_command is None:
        return percentile(predict_latencies(serve_port, count), 99), 0.0
    browser = subprocess.Popen(browse_command, stdout=subprocess.PIPE, text=True)
    time.sleep(2)  # signed in and browsing
    p99 = percentile(predict_latencies(serve_port, count), 99)
    browser.send_signal(signal.SIGTERM)
    out, _ = browser.communicate(timeout=30)
    return p99, float(out.strip() or 0)


def measure_predict(
    serve_port: int, console_port: int, rounds: int, count: int, user_rate: float
) -> None:
    sys.path.insert(0, str(HERE))
    predict_latencies(serve_port, 200)  # warm-up
    browse = [sys.executable, __file__, "--browse", str(console_port)]
    ways = {
        "idle": None,
        f"a user browsing ({user_rate:g} pages/s)": [*browse, "--rate", str(user_rate)],
        "browsing flat out": browse,
    }
    p99: dict[str, list[float]] = {name: [] for name in ways}
    rate: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, command in ways.items():
            found, pages = p99_while(serve_port, count, command)
            p99[name].append(found)
            rate[name].append(pages)
    print(f"POST /v1/predict p99 over {count} requests, median (range) of {rounds} rounds:")
    idle = p99["idle"]
    for name in ways:
        line = f"  {name:<32} {spread(p99[name])}"
        if name != "idle":
            delta = [b - i for b, i in zip(p99[name], idle, strict=True)]
            verdict = "PASS" if max(delta) <= GOAL_P99_DELTA_MS else "FAIL"
            line += (
                f"  {statistics.median(delta):+.2f} ms ({min(delta):+.2f} to {max(delta):+.2f}), "
                f"goal <= {GOAL_P99_DELTA_MS:g} ms {verdict}; "
                f"{statistics.median(rate[name]):.1f} pages/s"
            )
        print(line, flush=True)


def browse(port: int, rate: float | None) -> None:
    """The browsing client: the Monitoring page until SIGTERM, `rate` pages per second (None:
    as fast as they come); prints the pages per second."""
    browser = Browser(port)
    done = False

    def finish(*_: object) -> None:
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, finish)
    count, start_s = 0, time.monotonic()
    while not done:
        browser.request("GET", "/monitoring")
        count += 1
        if rate:
            time.sleep(max(0.0, start_s + count / rate - time.monotonic()))
    print(count / (time.monotonic() - start_s), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/champion"))
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE.parent.parent / "shared/data/default_of_credit_card_clients.csv",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=40, help="per page and round")
    parser.add_argument("--predictions", type=int, default=2000, help="per p99 and round")
    parser.add_argument(
        "--user-rate", type=float, default=1.0, help="pages per second of a browsing user"
    )
    parser.add_argument("--browse", type=int, help=argparse.SUPPRESS)  # the browsing client
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.browse:
        browse(args.browse, args.rate)
        return
    if not args.model_dir.is_dir():
        sys.exit(f"--model-dir {args.model_dir}: no bundle (train one: `make run`)")
    folder = Path(tempfile.mkdtemp(prefix="console-pages-"))
    url = f"sqlite:///{folder / 'log.db'}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print(f"SQLite log, {args.rows:,} rows:", flush=True)
        runs = build_log(url, args.model_dir, args.data, args.rows, folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANKRISK_")}
        env.pop("PORT", None)
        env.update(
            BANKRISK_PREDICTION_LOG=url,
            BANKRISK_CONSOLE_KEY=KEY,
            BANKRISK_DATA_DIR=str(folder / "data"),
            MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
        )
        console_port, serve_port = free_port(), free_port()
        model = ["--model-dir", str(args.model_dir)]
        started = time.monotonic()
        processes.append(
            start(
                [str(BIN / "bankrisk"), "console", *model, "--port", str(console_port)],
                env,
                lambda: answers(console_port, "/sign-in"),
            )
        )
        processes.append(
            start(
                [str(BIN / "bankrisk"), "serve", *model, "--port", str(serve_port)],
                env,
                lambda: answers(serve_port, "/ready"),
            )
        )
        browser = Browser(console_port)
        wait_for_figures(browser)
        waited = time.monotonic() - started
        print(
            f"  monitoring and models figures ready {waited:.0f} s after the console started",
            flush=True,
        )
        pages = [
            Page("GET /customer", "GET", "/customer"),
            Page(
                "POST /customer (by id)", "POST", "/customer", {"source": "id", "customer_id": "1"}
            ),
            Page("POST /notice (by id)", "POST", "/notice", {"customer_id": "1"}),
            Page("GET /portfolio", "GET", "/portfolio"),
            Page("POST /portfolio/run", "POST", "/portfolio/run", {"run_id": runs[1]}),
            Page(
                "POST /portfolio/compare",
                "POST",
                "/portfolio/compare",
                {"last_run": runs[0], "this_run": runs[1]},
            ),
            Page("GET /monitoring", "GET", "/monitoring"),
            Page("GET /models", "GET", "/models"),
        ]
        measure_pages(browser, pages, args.rounds, args.requests)
        measure_predict(serve_port, console_port, args.rounds, args.predictions, args.user_rate)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
