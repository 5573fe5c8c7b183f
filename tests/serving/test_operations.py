"""Health, readiness, the model card, Prometheus metrics, /docs and the OpenAPI schema."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.features.engineering import feature_names
from bankrisk.schema import FIELDS, OPTIONAL
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from helpers.api import Api, TestClient, customer
from helpers.factories import make_bundle

# ---- health and readiness ------------------------------------------------------------------


def test_health_and_ready_when_loaded(api: Api) -> None:
    health = api.client.get("/health")
    ready = api.client.get("/ready")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_not_ready_without_a_scorer(make_api: Callable[..., Api]) -> None:
    api = make_api(loaded=False)
    assert api.client.get("/health").status_code == 200
    ready = api.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "model not loaded"}
    model = api.client.get("/v1/model")
    assert model.status_code == 503
    assert model.json()["detail"] == "model not loaded"
    assert api.client.get("/metrics").status_code == 200


def test_no_path_ends_in_z(api: Api) -> None:
    paths = set(api.client.get("/openapi.json").json()["paths"]) | {"/docs", "/openapi.json"}
    assert not [p for p in paths if p.endswith("z")]
    for path in ("/healthz", "/readyz", "/livez"):
        response = api.client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")


# ---- the model card --------------------------------------------------------------------------


def test_model_card(api: Api, bundle: ModelBundle) -> None:
    response = api.client.get("/v1/model")

    assert response.status_code == 200
    card = response.json()
    assert (card["name"], card["version"]) == ("test-model", "7")
    assert card["threshold"] == bundle.policy.threshold == 0.3
    assert card["review_threshold"] == bundle.policy.review_threshold
    assert [f["name"] for f in card["features"]] == feature_names()
    assert [f["name"] for f in card["input_fields"]] == [f.name for f in FIELDS]
    for field, spec in zip(card["input_fields"], FIELDS, strict=True):
        assert (field["min"], field["max"], field["integer"]) == (
            spec.minimum,
            spec.maximum,
            spec.integer,
        )
        assert spec.minimum <= field["train_min"] <= field["train_max"] <= spec.maximum
    assert card["data_fingerprint"]["rows"] == 3000
    assert len(card["data_fingerprint"]["sha256"]) == 64
    assert card["test_metrics"]["roc_auc"] == 0.75
    assert {r["code"] for r in card["reason_codes"]} >= {"R01", "R02", "R03"}
    assert len(card["grade_bands"]) == 5


def test_model_card_of_a_bundle_that_was_never_saved() -> None:
    app = create_app(Settings(), Scorer(make_bundle()), logger=JsonLogger(io.StringIO()))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/model")
    assert response.status_code == 200
    assert response.json()["threshold"] == 0.3


# ---- Prometheus metrics -------------------------------------------------------------------


def test_metrics_exposes_every_family(api: Api) -> None:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in (
        "bankrisk_http_requests_total",
        "bankrisk_http_request_duration_seconds",
        "bankrisk_predictions_total",
        "bankrisk_probability_of_default",
        "bankrisk_model_info",
        "bankrisk_model_reloads_total",
        "bankrisk_shadow_dropped_total",
    ):
        assert f"# TYPE {family} " in response.text, family
    samples = api.metrics()
    info = _labels(name="test-model", version="7", role="champion")
    assert samples[("bankrisk_model_info", info)] == 1.0
    # Both results exist from the start, at 0, so that rate() and alerts see them.
    for result in ("success", "failure"):
        assert samples[("bankrisk_model_reloads_total", _labels(result=result))] == 0.0


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_metrics_count_a_prediction(api: Api) -> None:
    before = api.metrics()
    body = api.client.post("/v1/predict", json=customer(PAY_0=2)).json()
    after = api.metrics()

    def delta(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    http = _labels(route="/v1/predict", method="POST", status="200")
    assert delta("bankrisk_http_requests_total", http) == 1
    assert delta("bankrisk_http_request_duration_seconds_count", http) == 1
    assert delta("bankrisk_http_request_duration_seconds_sum", http) > 0
    assert (
        delta(
            "bankrisk_http_request_duration_seconds_bucket", tuple(sorted((*http, ("le", "+Inf"))))
        )
        == 1
    )
    grade = _labels(
        model_version="7", role="champion", decision=body["decision"], grade=body["risk_grade"]
    )
    assert delta("bankrisk_predictions_total", grade) == 1
    assert delta("bankrisk_probability_of_default_count", ()) == 1
    assert delta("bankrisk_probability_of_default_sum", ()) == pytest.approx(
        body["probability_of_default"]
    )


def test_metrics_count_refusals_and_other_routes(api: Api) -> None:
    before = api.metrics()
    api.client.post("/v1/predict", json=customer(AGE=5))
    api.client.post("/predict", json=customer())
    api.client.get("/health")
    api.client.get("/no/such/path")
    after = api.metrics()

    def delta(**labels: str) -> float:
        key = ("bankrisk_http_requests_total", _labels(**labels))
        return after[key] - before.get(key, 0.0)

    assert delta(route="/v1/predict", method="POST", status="422") == 1
    assert delta(route="/predict", method="POST", status="200") == 1
    assert delta(route="/health", method="GET", status="200") == 1
    # Unknown paths share one label value: no unbounded label cardinality.
    assert delta(route="unmatched", method="GET", status="404") == 1
    refused = ("bankrisk_predictions_total",)
    assert (
        sum(v for k, v in after.items() if k[:1] == refused)
        - sum(v for k, v in before.items() if k[:1] == refused)
        == 1
    )


def test_each_app_has_its_own_registry(make_api: Callable[..., Api]) -> None:
    first, second = make_api(), make_api()
    first.client.post("/v1/predict", json=customer())
    key = (
        "bankrisk_http_requests_total",
        _labels(route="/v1/predict", method="POST", status="200"),
    )
    assert first.metrics()[key] == 1
    assert key not in second.metrics()


# ---- /docs and the OpenAPI schema -----------------------------------------------------------


def test_docs_page(api: Api) -> None:
    response = api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower()


def test_openapi_documents_every_endpoint(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {
        "/v1/predict",
        "/predict",
        "/v1/predict/batch",
        "/v1/model",
        "/health",
        "/ready",
        "/metrics",
    }
    assert paths["/predict"]["post"]["deprecated"] is True
    assert not paths["/v1/predict"]["post"].get("deprecated", False)
    components = schema["components"]["schemas"]
    customer_schema = components["Customer"]
    assert set(customer_schema["required"]) == {f.name for f in FIELDS} - set(OPTIONAL)
    assert customer_schema["additionalProperties"] is False
    assert customer_schema["properties"]["LIMIT_BAL"]["minimum"] == 1
    age = customer_schema["properties"]["AGE"]  # optional: a number in range, or null
    assert {"type": "integer", "minimum": 18, "maximum": 100} in [
        {k: v for k, v in option.items() if k in ("type", "minimum", "maximum")}
        for option in age["anyOf"]
    ]
    assert {"type": "null"} in age["anyOf"]
    batch = components["BatchRequest"]["properties"]["records"]
    assert batch["maxItems"] == Settings().max_batch_records


def test_openapi_batch_limit_follows_the_settings(make_api: Callable[..., Api]) -> None:
    schema = make_api(Settings(max_batch_records=5)).client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["BatchRequest"]["properties"]["records"]["maxItems"] == 5


def test_the_documented_example_is_scored(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    examples = schema["components"]["schemas"]["Customer"]["examples"]
    assert examples
    for example in examples:
        response = api.client.post("/v1/predict", json=example)
        assert response.status_code == 200, response.text
        assert response.json()["customer_id"] == example.get("customer_id")
    batch_examples = schema["components"]["schemas"]["BatchRequest"]["examples"]
    for example in batch_examples:
        assert api.client.post("/v1/predict/batch", json=example).status_code == 200


@pytest.mark.parametrize(
    ("path", "component"),
    [("/v1/model", "ModelCard"), ("/health", "Status"), ("/ready", "Status")],
)
def test_openapi_documents_the_json_responses(api: Api, path: str, component: str) -> None:
    schema = api.client.get("/openapi.json").json()
    ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": f"#/components/schemas/{component}"}


def test_unknown_method_is_405_json(api: Api) -> None:
    response = api.client.get("/v1/predict")
    assert response.status_code == 405
    assert isinstance(response.json()["detail"], str)
