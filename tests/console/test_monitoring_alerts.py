"""The Monitoring page's alerts firing now, from a real HTTP server on 127.0.0.1 that answers
as Prometheus' `/api/v1/alerts` does; and what the page says with none configured or one
that does not answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bankrisk.console.pages.monitoring import alerts_now
from helpers.processes import free_port

ALERTS = {
    "status": "success",
    "data": {
        "alerts": [
            {
                "labels": {"alertname": "BankriskDriftAlert", "severity": "page"},
                "annotations": {"summary": "PSI of PAY_0 above 0.25"},
                "state": "firing",
                "activeAt": "2026-12-01T08:00:00.123Z",
            },
            {
                "labels": {"alertname": "BankriskSlowScoring"},
                "annotations": {},
                "state": "pending",
                "activeAt": "2026-12-01T09:00:00Z",
            },
        ]
    },
}


class _Prometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(ALERTS).encode() if self.path == "/api/v1/alerts" else b"{}"
        self.send_response(200 if self.path == "/api/v1/alerts" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_firing_alerts_are_listed(prometheus: str) -> None:
    found = alerts_now(prometheus)
    assert found.problem is None
    assert [(a.name, a.severity, a.summary, a.since) for a in found.firing] == [
        ("BankriskDriftAlert", "page", "PSI of PAY_0 above 0.25", "2026-12-01 08:00:00")
    ]


def test_no_prometheus_configured_is_said() -> None:
    found = alerts_now("  ")
    assert found.firing == () and found.problem is not None
    assert "No Prometheus is configured" in found.problem


def test_a_prometheus_that_does_not_answer_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    found = alerts_now(url)
    assert found.firing == ()
    assert found.problem is not None and url in found.problem and "did not answer" in found.problem
