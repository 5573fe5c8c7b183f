"""One structured JSON line per request (Cloud Logging fields), and no customer data in it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from helpers.api import Api, TestClient, customer

SCORED = re.compile(r"^scored in \d+\.\d{2} ms prob=(0\.\d{4}|1\.0000)$")
TRACE = "logging.googleapis.com/trace"


@pytest.fixture(autouse=True)
def _no_cloud_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)


def test_a_prediction_logs_one_line_with_its_fields(api: Api) -> None:
    response = api.client.post("/v1/predict", json=customer(PAY_0=2))
    body = response.json()

    lines = api.new_log_lines()
    assert len(lines) == 1
    line = lines[0]
    assert line["severity"] == "INFO"
    match = SCORED.match(line["message"])
    assert match, line["message"]
    assert float(match.group(1)) == pytest.approx(body["probability_of_default"], abs=5e-5)
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
    assert line["request_id"] == body["request_id"] == response.headers["x-request-id"]
    assert line["model_version"] == "7"
    assert line["status"] == 200
    assert line["route"] == "/v1/predict"
    assert line["method"] == "POST"
    assert (line["decision"], line["risk_grade"]) == (body["decision"], body["risk_grade"])
    assert line["httpRequest"]["status"] == 200
    assert line["httpRequest"]["requestMethod"] == "POST"
    assert TRACE not in line


def test_each_request_logs_exactly_one_line(api: Api) -> None:
    requests: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/predict", customer(), 200, "INFO"),
        ("POST", "/predict", customer(), 200, "INFO"),
        ("POST", "/v1/predict/batch", {"records": [customer()] * 3}, 200, "INFO"),
        ("POST", "/v1/predict", customer(AGE=5), 422, "WARNING"),
        ("POST", "/v1/predict/batch", {"records": []}, 422, "WARNING"),
        ("GET", "/v1/model", None, 200, "INFO"),
        ("GET", "/health", None, 200, "INFO"),
        ("GET", "/ready", None, 200, "INFO"),
        ("GET", "/metrics", None, 200, "INFO"),
        ("GET", "/nowhere", None, 404, "WARNING"),
        ("GET", "/v1/predict", None, 405, "WARNING"),
    ]
    for method, path, body, status, severity in requests:
        response = api.client.request(method, path, json=body)
        assert response.status_code == status
        lines = api.new_log_lines()
        assert len(lines) == 1, (path, lines)
        assert lines[0]["status"] == status
        assert lines[0]["severity"] == severity
        assert lines[0]["request_id"] == response.headers["x-request-id"]
        assert lines[0]["latency_ms"] >= 0
    # Every line is one JSON object on a line of its own.
    assert len(api.log.getvalue().splitlines()) == len(requests)


def test_a_batch_logs_its_size_and_mean(api: Api) -> None:
    body = api.client.post("/v1/predict/batch", json={"records": [customer()] * 3}).json()
    (line,) = api.new_log_lines()
    assert re.match(r"^scored 3 customers in \d+\.\d{2} ms mean_prob=0\.\d{4}$", line["message"])
    assert line["records"] == 3
    assert line["model_version"] == "7"
    assert line["request_id"] == body["request_id"]


def test_trace_header_becomes_the_cloud_logging_trace_field(api: Api) -> None:
    api.client.post(
        "/v1/predict", json=customer(), headers={"X-Cloud-Trace-Context": "abc123/1;o=1"}
    )
    (line,) = api.new_log_lines()
    assert line[TRACE] == "abc123"


def test_trace_field_names_the_project_when_known(
    monkeypatch: pytest.MonkeyPatch, make_api: Callable[..., Api]
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    api = make_api()
    api.client.get("/health", headers={"X-Cloud-Trace-Context": "abc123/1;o=1"})
    (line,) = api.new_log_lines()
    assert line[TRACE] == "projects/my-project/traces/abc123"


@pytest.mark.parametrize("header", ["", "/1;o=1", "not a trace/1", "x" * 65 + "/1"])
def test_malformed_trace_headers_are_ignored(api: Api, header: str) -> None:
    assert api.client.get("/health", headers={"X-Cloud-Trace-Context": header}).status_code == 200
    (line,) = api.new_log_lines()
    assert TRACE not in line


def test_a_client_request_id_is_kept(api: Api) -> None:
    response = api.client.post("/v1/predict", json=customer(), headers={"X-Request-ID": "req-42"})
    (line,) = api.new_log_lines()
    assert response.headers["x-request-id"] == "req-42"
    assert response.json()["request_id"] == line["request_id"] == "req-42"


@pytest.mark.parametrize("given", ["has space", "x" * 65, "semi;colon", '"quoted"'])
def test_an_unsafe_client_request_id_is_replaced(api: Api, given: str) -> None:
    response = api.client.post("/v1/predict", json=customer(), headers={"X-Request-ID": given})
    (line,) = api.new_log_lines()
    request_id = response.headers["x-request-id"]
    assert request_id != given and re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.json()["request_id"] == line["request_id"] == request_id


def test_request_ids_are_unique(api: Api) -> None:
    ids = {api.client.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


DISTINCTIVE = {"LIMIT_BAL": 123457, "BILL_AMT1": 98765.4, "PAY_AMT3": 4321.5, "AGE": 57}


def test_no_customer_values_in_the_log(api: Api) -> None:
    record = customer(**DISTINCTIVE, customer_id="secret-customer-77")
    api.client.post("/v1/predict", json=record)
    api.client.post("/predict", json=record)
    api.client.post("/v1/predict/batch", json={"records": [record, record]})
    text = api.log.getvalue()
    assert len(text.splitlines()) == 3
    for value in ("123457", "98765.4", "98765", "4321.5"):
        assert value not in text, value


def test_no_customer_values_in_the_log_of_refused_requests(api: Api) -> None:
    bad = customer(**DISTINCTIVE, PAY_0=42, EDUCATION=1.5)
    response = api.client.post("/v1/predict", json=bad)
    assert response.status_code == 422
    response = api.client.post("/v1/predict/batch", json={"records": [bad]})
    assert response.status_code == 422
    text = api.log.getvalue()
    assert len(text.splitlines()) == 2
    for value in ("123457", "98765.4", "98765", "4321.5"):
        assert value not in text, value


def test_not_ready_app_logs_too(make_api: Callable[..., Api]) -> None:
    api = make_api(loaded=False)
    api.client.post("/v1/predict", json=customer())
    (line,) = api.new_log_lines()
    assert line["status"] == 503 and line["severity"] == "ERROR"


class _BrokenScorer(Scorer):
    def predict(self, rows: Any, customer_ids: Any) -> Any:
        raise RuntimeError("scoring exploded")

    def predict_one(self, values: Any, customer_id: Any) -> Any:
        raise RuntimeError("scoring exploded")


@pytest.fixture
def broken(bundle: ModelBundle) -> tuple[TestClient, io.StringIO]:
    log = io.StringIO()
    app = create_app(Settings(), _BrokenScorer(bundle), logger=JsonLogger(log))
    return TestClient(app, raise_server_exceptions=False), log


def test_an_internal_error_is_a_plain_500_and_logged(
    broken: tuple[TestClient, io.StringIO],
) -> None:
    client, log = broken
    response = client.post("/v1/predict", json=customer())
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal error; quote the request id to the operator",
        "errors": [],
        "request_id": response.headers["x-request-id"],
    }
    assert "Traceback" not in response.text and "exploded" not in response.text
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    request_lines = [line for line in lines if line.get("status") == 500]
    assert len(request_lines) == 1 and request_lines[0]["severity"] == "ERROR"
    assert "RuntimeError: scoring exploded" in request_lines[0]["error"]


def test_an_internal_error_tells_the_client_its_request_id(
    broken: tuple[TestClient, io.StringIO],
) -> None:
    client, log = broken
    response = client.post("/v1/predict", json=customer(), headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers.get("x-request-id") == "req-500"
    assert all(json.loads(line)["request_id"] == "req-500" for line in log.getvalue().splitlines())


def test_an_internal_error_logs_exactly_one_line(
    broken: tuple[TestClient, io.StringIO],
) -> None:
    client, log = broken
    client.post("/v1/predict", json=customer())
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["status"] == 500 and "RuntimeError" in json.dumps(lines[0])
