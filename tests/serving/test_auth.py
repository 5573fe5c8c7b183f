"""Optional API keys: scoring and the model card need one; health, readiness, metrics don't."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bankrisk.config import Settings
from helpers.api import Api, customer

PROTECTED_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/predict", customer()),
    ("POST", "/predict", customer()),
    ("POST", "/v1/predict/batch", {"records": [customer()]}),
    ("GET", "/v1/model", None),
]
IDS = [f"{method} {path}" for method, path, _ in PROTECTED_CALLS]


@pytest.fixture
def secured(make_api: Callable[..., Api]) -> Api:
    return make_api(Settings(api_keys=("k1", "k2")))


def call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED_CALLS, ids=IDS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic k1"},
        {"Authorization": "k1"},
        {"X-API-Key": "k1x"},
        {"X-API-Key": "K1"},
    ],
    ids=[
        "none",
        "wrong-key",
        "empty-key",
        "wrong-bearer",
        "bearer-no-token",
        "basic",
        "no-scheme",
        "longer",
        "case",
    ],
)
def test_without_a_valid_key_is_401(
    secured: Api, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    response = call(secured, method, path, body, headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key", "errors": []}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED_CALLS, ids=IDS)
@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "k1"},
        {"X-API-Key": "k2"},
        {"Authorization": "Bearer k2"},
        {"Authorization": "Bearer k1"},
        {"Authorization": "bearer k2"},
    ],
    ids=["x-api-key-k1", "x-api-key-k2", "bearer-k2", "bearer-k1", "lowercase-scheme"],
)
def test_with_a_valid_key_is_200(
    secured: Api, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    assert call(secured, method, path, body, headers).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_operations_stay_open(secured: Api, path: str) -> None:
    assert secured.client.get(path).status_code == 200
    assert secured.client.get(path, headers={"X-API-Key": "wrong"}).status_code == 200


def test_auth_comes_before_reading_the_body(secured: Api) -> None:
    # No key and a bad body: the client learns about the key, nothing about validation.
    response = secured.client.post("/v1/predict", json={"AGE": "x"})
    assert response.status_code == 401
    response = secured.client.post("/v1/predict", content=b"{", headers={"X-API-Key": "k1"})
    assert response.status_code == 400


def test_auth_is_off_by_default(api: Api) -> None:
    assert Settings().api_keys == ()
    for method, path, body in PROTECTED_CALLS:
        assert call(api, method, path, body, {}).status_code == 200, path


def test_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_api: Callable[..., Api]
) -> None:
    monkeypatch.setenv("BANKRISK_API_KEYS", " k1 , k2 ,")
    settings = Settings()
    assert settings.api_keys == ("k1", "k2")
    api = make_api(settings)
    assert api.client.post("/v1/predict", json=customer()).status_code == 401
    ok = api.client.post("/v1/predict", json=customer(), headers={"X-API-Key": "k2"})
    assert ok.status_code == 200


def test_refused_requests_are_counted_and_logged(secured: Api) -> None:
    before = secured.metrics()
    secured.client.post("/v1/predict", json=customer())
    key = (
        "bankrisk_http_requests_total",
        (("method", "POST"), ("route", "/v1/predict"), ("status", "401")),
    )
    assert secured.metrics()[key] - before.get(key, 0) == 1
    lines = [line for line in secured.log_lines() if line["status"] == 401]
    assert len(lines) == 1 and lines[0]["severity"] == "WARNING"
    assert "k1" not in secured.log.getvalue()
