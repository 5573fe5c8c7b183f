"""Large batches are parsed, validated, scored and serialised in slices, handing the event
loop back between slices: the answers are the same as in one piece, errors keep their batch
positions, and other requests are answered while a large batch is being scored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from bankrisk.serving.routes.predict import SLICE_RECORDS
from helpers.api import PREDICTION_KEYS, Api

N = SLICE_RECORDS * 3 + 17  # several slices and a ragged last one


@pytest.fixture
def records(random_customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**random_customers[i % len(random_customers)], "customer_id": f"S-{i:05d}"}
        for i in range(N)
    ]


def single(api: Api, record: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = api.client.post("/v1/predict", json=record).json()
    return {k: v for k, v in body.items() if k in PREDICTION_KEYS}


def test_a_sliced_batch_answers_as_single_requests_do(
    api: Api, records: list[dict[str, Any]]
) -> None:
    response = api.client.post("/v1/predict/batch", json={"records": records})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "request_id", "predictions"}
    assert body["request_id"] == response.headers["x-request-id"]
    predictions = body["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customer_id"] for r in records]
    for i in (0, SLICE_RECORDS - 1, SLICE_RECORDS, 2 * SLICE_RECORDS + 1, N - 1):
        expected = single(api, records[i])
        assert predictions[i]["probability_of_default"] == pytest.approx(
            expected.pop("probability_of_default"), rel=1e-12
        )
        assert {k: v for k, v in predictions[i].items() if k != "probability_of_default"} == (
            expected
        )


def test_errors_in_later_slices_keep_their_batch_positions(
    api: Api, records: list[dict[str, Any]]
) -> None:
    records[3]["PAY_0"] = 1.5
    records[SLICE_RECORDS + 5]["AGE"] = "old"
    records[N - 1]["LIMIT_BAL"] = -1

    response = api.client.post("/v1/predict/batch", json={"records": records})

    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "3 invalid field(s) in 3 record(s)"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (3, "PAY_0"),
        (SLICE_RECORDS + 5, "AGE"),
        (N - 1, "LIMIT_BAL"),
    ]


@pytest.mark.parametrize(
    "customer_id",
    ['x},{"LIMIT_BAL":1', "}, {", '"},"', "a},"],
)
def test_record_boundaries_inside_strings_do_not_split_records(
    api: Api, records: list[dict[str, Any]], customer_id: str
) -> None:
    for i in range(0, N, 7):
        records[i]["customer_id"] = customer_id
    content = json.dumps({"records": records}, separators=(",", ":"))
    assert "}," in content

    response = api.client.post(
        "/v1/predict/batch", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    ids = [p["customer_id"] for p in response.json()["predictions"]]
    assert ids == [r["customer_id"] for r in records]


@pytest.mark.parametrize(
    ("suffix", "status"),
    [(', "extra": 1}', 422), (', "records": []}', 422), ("]}", 400), ("", 400)],
)
def test_bodies_that_only_look_like_a_batch_are_parsed_whole(
    api: Api, records: list[dict[str, Any]], suffix: str, status: int
) -> None:
    content = json.dumps({"records": records})[:-1] + suffix
    response = api.client.post(
        "/v1/predict/batch", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text


def test_a_nan_in_a_later_slice_is_named(api: Api, records: list[dict[str, Any]]) -> None:
    content = json.dumps({"records": records}).replace(
        f'"customer_id": "S-{N - 2:05d}"', f'"customer_id": "S-{N - 2:05d}", "BILL_AMT2": NaN'
    )
    records_after = json.loads(content)["records"]
    assert records_after[N - 2]["BILL_AMT2"] != records_after[N - 2]["BILL_AMT2"]

    response = api.client.post(
        "/v1/predict/batch", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(N - 2, "BILL_AMT2")]


def test_single_requests_are_answered_while_a_large_batch_is_scored(
    api: Api, records: list[dict[str, Any]]
) -> None:
    finished: list[str] = []

    async def post(client: httpx.AsyncClient, name: str, path: str, body: Any) -> int:
        response = await client.post(path, json=body)
        finished.append(name)
        return response.status_code

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            batch = asyncio.create_task(
                post(client, "batch", "/v1/predict/batch", {"records": records})
            )
            await asyncio.sleep(0)  # the batch request is under way first
            singles = [post(client, f"single-{i}", "/v1/predict", records[i]) for i in range(3)]
            return await asyncio.gather(batch, *singles)

    statuses = asyncio.run(scenario())

    assert statuses == [200, 200, 200, 200]
    assert finished[-1] == "batch", finished
