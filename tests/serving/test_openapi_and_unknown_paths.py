"""The OpenAPI schema is derived from the routes (every scoring endpoint described, with its
models), declares the API-key schemes when keys are on (so Swagger UI's Authorize button
works), and unknown paths and methods get the same error body as every other refusal."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from bankrisk.config import Settings
from helpers.api import Api

SCORING = ("/v1/predict", "/predict", "/v1/predict/batch", "/v1/predict/customer/{customer_id}")


def test_every_scoring_route_is_described_with_its_models(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    for path in SCORING:
        operation = schema["paths"][path]["post"]
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["$ref"].rsplit("/", 1)[-1] in schema["components"]["schemas"], path
        assert operation["responses"]["422"], path
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/Customer")
    assert "requestBody" not in schema["paths"]["/v1/predict/customer/{customer_id}"]["post"]
    assert "securitySchemes" not in schema["components"]  # no keys: nothing to authorise


def test_with_api_keys_every_protected_operation_names_the_schemes(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(Settings(api_keys=("k1",), admin_api_key=SecretStr("admin")))
    schema = api.client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer"}
    for path in (*SCORING, "/v1/model", "/v1/admin/reload"):
        for operation in schema["paths"][path].values():
            assert operation["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}], path
    for path in ("/health", "/ready", "/metrics"):  # open without a key
        assert "security" not in schema["paths"][path]["get"], path


def test_an_unknown_path_and_a_wrong_method_get_the_error_body(api: Api) -> None:
    missing = api.client.get("/no-such-path")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found", "errors": []}
    wrong = api.client.get("/v1/predict")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed", "errors": []}
    assert "POST" in wrong.headers["allow"]
