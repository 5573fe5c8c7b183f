"""What the prediction log's fault tests and `benchmarks/log_faults.py` share: finding the
server's writer process, reading the log by request, and bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bankrisk.prediction_log.store import open_store
from helpers.log_load import Load

WAIT_S = 60.0  # bounds waits that take about a second: a hang fails instead of blocking


def wait_for(condition: Callable[[], object], what: str) -> object:
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def writer_pid(server_pid: int) -> int | None:
    """The pid of the server's prediction-log writer process (its child), if one runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server_pid and b"bankrisk.prediction_log.process_writer" in command:
            return int(entry.name)
    return None


def logged_by_request(url: str) -> dict[str, int]:
    store = open_store(url, create=False)
    assert store is not None
    try:
        rows = store.read_predictions()
    finally:
        store.close()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["request_id"]] = counts.get(row["request_id"], 0) + 1
    return counts


def assert_every_answer_logged(loads: list[Load], url: str) -> int:
    """Every answered customer is in the log exactly once; returns how many were answered."""
    answered: dict[str, int] = {}
    for load in loads:
        answered.update(load.answered)
    logged = logged_by_request(url)
    missing = {r: n for r, n in answered.items() if logged.get(r, 0) < n}
    assert missing == {}, f"{len(missing)} answered requests not (fully) in the log"
    twice = {r: logged[r] - n for r, n in answered.items() if logged[r] > n}
    assert twice == {}, f"{len(twice)} answered requests logged more than once"
    return sum(answered.values())


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")
