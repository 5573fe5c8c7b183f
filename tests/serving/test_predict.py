"""POST /v1/predict (and its deprecated alias /predict): the response contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import PROTECTED
from helpers.api import PREDICTION_KEYS, Api, customer, to_row

RESPONSE_KEYS = PREDICTION_KEYS | {"model", "request_id"}
REASON_KEYS = {"code", "group", "feature", "attribute", "value", "text", "contribution"}


def assert_reason_codes_ok(reasons: list[dict[str, Any]]) -> None:
    assert len(reasons) <= 4
    codes = [r["code"] for r in reasons]
    assert len(set(codes)) == len(codes), codes
    for reason in reasons:
        assert set(reason) == REASON_KEYS
        contribution = reason.pop("contribution")
        assert isinstance(contribution, float) and contribution > 0
        assert all(isinstance(v, str) and v for v in reason.values())
        for protected in PROTECTED:
            for value in reason.values():
                assert protected not in value.upper().replace("AVERAGE", ""), reason


def test_predict_returns_the_full_contract(api: Api, example: dict[str, Any]) -> None:
    response = api.client.post("/v1/predict", json=example)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == RESPONSE_KEYS
    assert isinstance(body["probability_of_default"], float)
    assert 0.0 <= body["probability_of_default"] <= 1.0
    assert isinstance(body["score"], int)
    assert body["risk_grade"] in {"A1", "A2", "B1", "B2", "C1"}
    assert body["decision"] in {"approve", "review", "decline"}
    assert_reason_codes_ok(body["reason_codes"])
    assert body["model"] == {"name": "test-model", "version": "7", "role": "champion"}
    assert body["customer_id"] == example["customer_id"]
    assert isinstance(body["warnings"], list)
    assert body["request_id"] and body["request_id"] == response.headers["x-request-id"]


def test_predict_equals_the_bundle(
    api: Api, bundle: ModelBundle, random_customers: list[dict[str, Any]]
) -> None:
    for record in random_customers[:10]:
        body = api.client.post("/v1/predict", json=record).json()
        expected = bundle.score(to_row(record))
        assert body["probability_of_default"] == float(expected.pd[0])
        assert body["score"] == int(expected.points[0])
        assert body["risk_grade"] == expected.grades[0]
        assert body["decision"] == expected.decisions[0]
        assert body["reason_codes"] == expected.reasons[0]


def test_decision_follows_the_bundle_thresholds(
    api: Api, bundle: ModelBundle, random_customers: list[dict[str, Any]]
) -> None:
    policy = bundle.policy
    seen = set()
    for record in random_customers[:60]:
        body = api.client.post("/v1/predict", json=record).json()
        pd = body["probability_of_default"]
        expected = (
            "decline"
            if pd >= policy.threshold
            else ("review" if pd >= policy.review_threshold else "approve")
        )
        assert body["decision"] == expected, pd
        seen.add(body["decision"])
    assert seen == {"approve", "review", "decline"}, "the sample should exercise every decision"


def test_deprecated_alias_gives_the_same_answer(api: Api, example: dict[str, Any]) -> None:
    new = api.client.post("/v1/predict", json=example).json()
    old = api.client.post("/predict", json=example).json()

    assert old.pop("request_id") != new.pop("request_id")
    assert old == new


def test_customer_id_is_optional_and_echoed(api: Api, example: dict[str, Any]) -> None:
    del example["customer_id"]
    assert api.client.post("/v1/predict", json=example).json()["customer_id"] is None
    example["customer_id"] = None
    assert api.client.post("/v1/predict", json=example).json()["customer_id"] is None
    example["customer_id"] = "x" * 64
    assert api.client.post("/v1/predict", json=example).json()["customer_id"] == "x" * 64


def test_whole_floats_are_accepted_in_integer_fields(api: Api, example: dict[str, Any]) -> None:
    as_ints = api.client.post("/v1/predict", json=example).json()
    as_floats = api.client.post(
        "/v1/predict", json={**example, "AGE": 24.0, "PAY_0": 2.0, "EDUCATION": 2.0}
    ).json()
    assert as_floats["probability_of_default"] == as_ints["probability_of_default"]


@pytest.mark.parametrize(
    ("field", "value", "side"),
    [
        ("LIMIT_BAL", 9_000_000, "above"),  # valid (<= 1e8) but above the training maximum
        ("BILL_AMT1", -2_000_000, "below"),  # valid (>= -1e8) but below the training minimum
        ("PAY_AMT6", 50_000_000, "above"),
    ],
)
def test_value_outside_the_training_range_is_scored_with_a_warning(
    api: Api, bundle: ModelBundle, field: str, value: float, side: str
) -> None:
    ranges = {f["name"]: f for f in bundle.metadata["input_fields"]}[field]
    assert not ranges["train_min"] <= value <= ranges["train_max"]
    assert api.client.post("/v1/predict", json=customer()).json()["warnings"] == []

    response = api.client.post("/v1/predict", json=customer(**{field: value}))

    assert response.status_code == 200
    warnings = response.json()["warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{field}=") and side in warnings[0]


def test_several_out_of_range_values_warn_once_each(api: Api) -> None:
    body = api.client.post(
        "/v1/predict", json=customer(LIMIT_BAL=9_000_000, PAY_AMT1=50_000_000)
    ).json()
    assert sorted(w.split("=")[0] for w in body["warnings"]) == ["LIMIT_BAL", "PAY_AMT1"]


def test_reason_codes_never_name_protected_attributes(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    body = api.client.post("/v1/predict/batch", json={"records": random_customers}).json()
    assert any(p["reason_codes"] for p in body["predictions"])
    for prediction in body["predictions"]:
        assert_reason_codes_ok(prediction["reason_codes"])


def test_scores_are_monotone_in_the_pd(api: Api, random_customers: list[dict[str, Any]]) -> None:
    body = api.client.post("/v1/predict/batch", json={"records": random_customers}).json()
    pds = np.array([p["probability_of_default"] for p in body["predictions"]])
    scores = np.array([p["score"] for p in body["predictions"]])
    order = np.argsort(pds)
    assert (np.diff(scores[order]) <= 0).all(), "a higher PD must never get more points"


def test_not_ready_app_answers_503(make_api: Callable[..., Api], example: dict[str, Any]) -> None:
    api = make_api(loaded=False)
    for path in ("/v1/predict", "/predict"):
        response = api.client.post(path, json=example)
        assert response.status_code == 503
        assert response.json() == {"detail": "model not loaded", "errors": []}
    response = api.client.post("/v1/predict/batch", json={"records": [example]})
    assert response.status_code == 503
