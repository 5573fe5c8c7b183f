"""The rules and the dashboard against a real Prometheus scraping a real `bankrisk serve`.

`deploy/monitoring/up.sh` (what `make monitoring-up` runs) starts both, and Alertmanager, on
127.0.0.1 with free ports, a temporary data directory and a 1 s scrape and evaluation interval;
real traffic goes to the API (single customers, a batch, refused requests); then every recording
rule and every dashboard query must return data, Prometheus must have loaded every rule without
error and found its Alertmanager, and no alert may fire on a healthy service.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.operations import (
    MONITORING,
    debian_tool,
    panel_queries,
    prometheus_query,
    rules,
    send_traffic,
    without_data,
)
from helpers.processes import BANKRISK, WAIT_S, clean_env, free_port, wait_answering, wait_ready

SCRAPE = 1.0  # seconds
DATA_WITHIN_S = 45.0


@dataclass(frozen=True)
class Stack:
    api: str
    prometheus: str
    alertmanager: str

    def query(self, expr: str) -> dict[str, Any]:
        """Prometheus' answer to an instant query (its JSON), whatever the status."""
        return prometheus_query(self.prometheus, expr)


@pytest.fixture(scope="module")
def stack(small_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = debian_tool("prometheus")
    alertmanager_bin = debian_tool("prometheus-alertmanager")
    state = tmp_path_factory.mktemp("monitoring-up")
    port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    env = clean_env(
        MODEL_DIR=str(small_bundle_dir),
        PORT=str(port),
        PROMETHEUS_PORT=str(prometheus_port),
        ALERTMANAGER_PORT=str(alertmanager_port),
        ALERTMANAGER=alertmanager_bin,
        GRAFANA="no-grafana-in-tests",
        SCRAPE_INTERVAL=f"{SCRAPE:.0f}s",
        STATE_DIR=str(state),
        BANKRISK=str(BANKRISK),
        PROMETHEUS=prometheus_bin,
        BANKRISK_PREDICTION_LOG=f"sqlite:///{state / 'predictions.db'}",
        BANKRISK_PREDICTION_LOG_SPOOL=str(state / "spool"),
    )
    said = (state / "up.stderr").open("w")
    process = subprocess.Popen(
        ["bash", str(MONITORING / "up.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=said,
        start_new_session=True,
        text=True,
    )
    try:
        wait_ready(process, port)
        url = f"http://127.0.0.1:{prometheus_port}"
        wait_answering(process, f"{url}/-/ready", "Prometheus (up.sh)", within=WAIT_S)
        _assert_every_printed_link_opens(state / "up.stderr")
        stack = Stack(f"http://127.0.0.1:{port}", url, f"http://127.0.0.1:{alertmanager_port}")
        send_traffic(stack.api)
        # The counters' first samples, then more traffic: rates move. (A fixed sleep was not
        # enough on a loaded machine, where the first scrape may come late.)
        assert not _without_data(stack, [("scraped", "bankrisk_predictions_total")])
        time.sleep(2 * SCRAPE)
        send_traffic(stack.api)
        yield stack
    finally:
        # On SIGTERM up.sh stops what it started (server, Prometheus, Alertmanager).
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        said.close()


def _assert_every_printed_link_opens(said: Path) -> None:
    """The links up.sh prints (the API's docs, Prometheus' alerts page, Alertmanager) answer
    200: Debian's Prometheus 2.42 has no /alerts, only /classic/alerts."""
    deadline = time.monotonic() + WAIT_S
    while "Prometheus http" not in said.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    links = re.findall(r"http://127\.0\.0\.1:\d+\S*", said.read_text())
    assert any("/alerts" in link for link in links), said.read_text()
    for link in links:
        assert _status(link.rstrip(",."), deadline) == 200, link


def _status(url: str, deadline: float) -> int | None:
    """The status `url` answers with, waiting while nothing listens (until `deadline`)."""
    while True:
        try:
            return httpx.get(url, timeout=10).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)


def _without_data(stack: Stack, queries: list[tuple[str, str]]) -> list[str]:
    """The queries still empty once the deadline passes (each retried until it has data)."""
    return without_data(stack.prometheus, queries, within=DATA_WITHIN_S, every=SCRAPE)


def test_every_recording_rule_returns_data(stack: Stack) -> None:
    records = [(rule["record"], rule["record"]) for rule in rules("record")]
    assert not _without_data(stack, records)


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    queries = [(f"{title} [{i}]", expr) for i, (title, expr) in enumerate(panel_queries())]
    assert not _without_data(stack, queries)


def test_the_psi_gauge_and_the_prediction_log_are_scraped(stack: Stack) -> None:
    """The drift and log panels show real values, not only series: rows were counted."""
    assert not _without_data(
        stack,
        [
            ("psi window", "bankrisk_feature_psi_window_rows > 0"),
            ("log written", "bankrisk_prediction_log_written_total > 0"),
            ("decisions", 'sum by (decision) (bankrisk_predictions_total{role!="shadow"}) > 0'),
        ],
    )


def test_prometheus_loaded_every_rule_and_none_fails(stack: Stack) -> None:
    groups = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules("record")) + len(rules("alert"))
    unhealthy = [(r["name"], r.get("lastError")) for r in loaded if r["health"] == "err"]
    assert not unhealthy


def test_no_alert_fires_on_a_healthy_service(stack: Stack) -> None:
    assert not _without_data(stack, [("scored", "job:bankrisk_predictions:rate5m > 0")])
    alerts = httpx.get(f"{stack.prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    assert not [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"]


def test_prometheus_rejects_a_bad_query(stack: Stack) -> None:
    """The checks above would catch a panel whose PromQL does not parse."""
    answer = stack.query("sum by (route) (rate(bankrisk_http_requests_total[5m])")
    assert answer["status"] == "error" and answer["errorType"] == "bad_data"


def test_prometheus_sends_alerts_to_the_alertmanager_it_started_with(stack: Stack) -> None:
    deadline = time.monotonic() + DATA_WITHIN_S
    active: list[dict[str, str]] = []
    while not active and time.monotonic() < deadline:
        answer = httpx.get(f"{stack.prometheus}/api/v1/alertmanagers", timeout=10).json()
        active = answer["data"]["activeAlertmanagers"]
        time.sleep(SCRAPE)
    assert [a["url"] for a in active] == [f"{stack.alertmanager}/api/v2/alerts"]
    status = httpx.get(f"{stack.alertmanager}/api/v2/status", timeout=10).json()
    assert "pager" in status["config"]["original"] and "ticket" in status["config"]["original"]
