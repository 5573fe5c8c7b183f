"""POST /v1/predict/batch: answers in order, bad records by index, the batch limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bankrisk.config import Settings
from helpers.api import PREDICTION_KEYS, Api, customer


def test_batch_answers_in_order_like_single_predictions(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    records = random_customers[:40]

    response = api.client.post("/v1/predict/batch", json={"records": records})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "request_id", "predictions"}
    assert body["model"] == {"name": "test-model", "version": "7", "role": "champion"}
    assert body["request_id"] == response.headers["x-request-id"]
    predictions = body["predictions"]
    assert len(predictions) == len(records)
    pds = [p["probability_of_default"] for p in predictions]
    assert len(set(pds)) > 30, "distinct customers should mostly get distinct PDs"
    for record, prediction in zip(records, predictions, strict=True):
        assert set(prediction) == PREDICTION_KEYS
        single = api.client.post("/v1/predict", json=record).json()
        assert prediction["customer_id"] == record["customer_id"]
        assert prediction["probability_of_default"] == pytest.approx(
            single["probability_of_default"], abs=1e-12
        )
        for key in ("score", "risk_grade", "decision", "reason_codes", "warnings"):
            assert prediction[key] == single[key], key


def test_reversing_the_batch_reverses_the_answers(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    records = random_customers[:25]
    forward = api.client.post("/v1/predict/batch", json={"records": records}).json()
    backward = api.client.post("/v1/predict/batch", json={"records": records[::-1]}).json()
    assert forward["predictions"] == backward["predictions"][::-1]


def test_records_without_ids_answer_with_null_ids(api: Api) -> None:
    anonymous = {k: v for k, v in customer().items() if k != "customer_id"}
    records = [anonymous, customer(customer_id=None), customer(customer_id="B")]
    body = api.client.post("/v1/predict/batch", json={"records": records}).json()
    assert [p["customer_id"] for p in body["predictions"]] == [None, None, "B"]


def test_bad_records_are_reported_by_index(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    records = [dict(r) for r in random_customers[:10]]
    records[3]["AGE"] = 5
    records[7]["INCOME"] = 1
    del records[7]["PAY_AMT2"]
    records[9] = "not a customer"

    response = api.client.post("/v1/predict/batch", json={"records": records})

    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str) and "3 record" in body["detail"]
    found = {(e["index"], e["field"]) for e in body["errors"]}
    assert found == {(3, "AGE"), (7, "INCOME"), (7, "PAY_AMT2"), (9, None)}
    assert all(set(e) == {"index", "field", "message"} for e in body["errors"])
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])


def test_nan_in_one_record_names_that_record(api: Api) -> None:
    good = customer()
    payload = (
        '{"records": ['
        + ", ".join(
            [
                json.dumps(good),
                json.dumps(good).replace('"LIMIT_BAL": 100000', '"LIMIT_BAL": NaN'),
                json.dumps(good),
            ]
        )
        + "]}"
    )
    assert "NaN" in payload
    response = api.client.post(
        "/v1/predict/batch", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "LIMIT_BAL")]


def test_batch_at_the_limit_is_scored_and_over_it_is_413(make_api: Callable[..., Api]) -> None:
    api = make_api(Settings(max_batch_records=5))

    at_limit = api.client.post("/v1/predict/batch", json={"records": [customer()] * 5})
    over = api.client.post("/v1/predict/batch", json={"records": [customer()] * 6})

    assert at_limit.status_code == 200
    assert len(at_limit.json()["predictions"]) == 5
    assert over.status_code == 413
    body = over.json()
    assert "5" in body["detail"] and body["errors"] == []


def test_the_limit_applies_before_record_validation(make_api: Callable[..., Api]) -> None:
    api = make_api(Settings(max_batch_records=5))
    response = api.client.post("/v1/predict/batch", json={"records": [{"AGE": "x"}] * 6})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        [customer()],
        {"records": customer()},
        {"records": "x"},
        {"records": None},
        {"rows": [customer()]},
        {"records": [customer()], "extra": 1},
        {},
        "records",
        None,
    ],
    ids=[
        "empty-list",
        "bare-list",
        "records-object",
        "records-string",
        "records-null",
        "wrong-key",
        "extra-key",
        "empty-object",
        "string",
        "null",
    ],
)
def test_wrong_batch_shapes_are_422(api: Api, body: Any) -> None:
    response = api.client.post(
        "/v1/predict/batch", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()
    assert set(error) == {"detail", "errors"}
    assert "records" in error["detail"]


def test_batch_counts_every_customer_in_the_metrics(api: Api) -> None:
    records = [customer(PAY_0=p, customer_id=f"c{p}") for p in (-1, 0, 1, 2, 3)]
    before = api.metrics()
    body = api.client.post("/v1/predict/batch", json={"records": records}).json()
    after = api.metrics()

    expected: dict[tuple[str, str], int] = {}
    for p in body["predictions"]:
        key = (p["decision"], p["risk_grade"])
        expected[key] = expected.get(key, 0) + 1
    for (decision, grade), count in expected.items():
        labels = {"model_version": "7", "role": "champion", "decision": decision, "grade": grade}
        series = ("bankrisk_predictions_total", tuple(sorted(labels.items())))
        assert after[series] - before.get(series, 0.0) == count
    histogram = ("bankrisk_probability_of_default_count", ())
    assert after[histogram] - before[histogram] == len(records)
