"""The protected attributes (SEX, MARRIAGE, AGE) and EDUCATION are never required by a model
that does not score them: the same answer with or without them (or with them null), logged as
null; a model that scores one (AGE with use_age) refuses a request without it, naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bankrisk.core.scorer import Scorer
from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES, OPTIONAL, PROTECTED
from helpers.api import Api, customer
from helpers.factories import make_bundle


def without(record: dict[str, Any], names: tuple[str, ...] = OPTIONAL) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def answers(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [dict(p) for p in response.json()["predictions"]]


def test_a_batch_scores_alike_with_without_and_null(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    full = answers(api.client.post("/v1/predict/batch", json={"records": random_customers}))
    variants = [
        [without(r) for r in random_customers],
        [without(r, PROTECTED) for r in random_customers],
        [{**r, **dict.fromkeys(OPTIONAL)} for r in random_customers],
        # Mixed in one batch: some records with, some without, some null.
        [
            r if i % 3 == 0 else without(r) if i % 3 == 1 else {**r, "SEX": None}
            for i, r in enumerate(random_customers)
        ],
    ]
    for records in variants:
        assert answers(api.client.post("/v1/predict/batch", json={"records": records})) == full
    decisions = {p["decision"] for p in full}
    assert len(decisions) > 1 and any(p["reason_codes"] for p in full)  # not a trivial model


def test_one_customer_scores_alike_with_and_without(
    api: Api, random_customers: list[dict[str, Any]]
) -> None:
    for record in random_customers[:60]:
        answered = [
            api.client.post("/v1/predict", json=body).json()
            for body in (record, without(record), {**record, "MARRIAGE": None, "SEX": None})
        ]
        for answer in answered:
            assert "probability_of_default" in answer, answer
            answer.pop("request_id")
        assert answered[0] == answered[1] == answered[2]


def test_absent_fields_are_logged_as_null(
    make_api: Callable[..., Api], random_customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    from bankrisk.prediction_log.store import open_store

    url = f"sqlite:///{tmp_path / 'log.db'}"
    api = make_api(prediction_log=url)
    given, absent = random_customers[0], without(random_customers[1])
    assert api.client.post("/v1/predict", json=given).status_code == 200
    assert api.client.post("/v1/predict/batch", json={"records": [absent]}).status_code == 200
    assert api.app.state.service.log_writer.flush(10)
    store = open_store(url)
    assert store is not None
    try:
        rows = {row["customer_id"]: row for row in store.read_predictions()}
    finally:
        store.close()
    assert all(rows[absent["customer_id"]][name] is None for name in OPTIONAL)
    assert all(rows[given["customer_id"]][name] == float(given[name]) for name in OPTIONAL)
    assert rows[absent["customer_id"]]["LIMIT_BAL"] == float(absent["LIMIT_BAL"])


def test_values_given_are_still_checked(api: Api) -> None:
    response = api.client.post("/v1/predict", json=without(customer(SEX=3), ("AGE",)))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["SEX"]
    assert "between 1 and 2" in response.json()["errors"][0]["message"]


@pytest.fixture(scope="module")
def age_scorer() -> Scorer:
    return Scorer(make_bundle(FeatureSet(use_age=True)))


def test_a_model_input_stays_required_and_is_named(
    make_api: Callable[..., Api], age_scorer: Scorer
) -> None:
    api = make_api(scorer=age_scorer)
    one = api.client.post("/v1/predict", json=without(customer(), ("AGE", "SEX", "MARRIAGE")))
    assert one.status_code == 422
    assert one.json()["errors"] == [
        {"index": None, "field": "AGE", "message": "field required: an input of the model"}
    ]
    records = [customer(), without(customer(), ("AGE",)), customer(AGE=None)]
    batch = api.client.post("/v1/predict/batch", json={"records": records})
    assert batch.status_code == 422
    assert [(e["index"], e["field"]) for e in batch.json()["errors"]] == [(1, "AGE"), (2, "AGE")]
    # SEX and MARRIAGE stay optional for this model; EDUCATION too.
    ok = api.client.post("/v1/predict", json=without(customer(), ("SEX", "MARRIAGE", "EDUCATION")))
    assert ok.status_code == 200, ok.text


def test_the_openapi_schema_shows_them_optional(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["Customer"]
    assert set(schema["required"]) == set(FIELD_NAMES) - set(OPTIONAL)
    for name in OPTIONAL:
        kinds = [k.get("type") for k in schema["properties"][name]["anyOf"]]
        assert "null" in kinds and "Optional" in schema["properties"][name]["description"]
