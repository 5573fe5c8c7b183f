"""Bad input: always a 4xx with {"detail": str, "errors": [{"index", "field", "message"}]}
naming every bad field; never a 500, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bankrisk.config import Settings
from bankrisk.schema import FIELD_NAMES, OPTIONAL, required_fields
from helpers.api import Api, customer

JSON = {"content-type": "application/json"}


def assert_refused(
    response: httpx.Response,
    status: int,
    fields: set[str | None] | None = None,
    index: int | None = None,
) -> dict[str, Any]:
    """The error contract; `fields`, if given, is exactly the set of fields named."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"index", "field", "message"}
        assert error["index"] == index
        assert isinstance(error["message"], str) and error["message"]
    if fields is not None:
        named = [e["field"] for e in body["errors"]]
        assert set(named) == fields, body
        assert len(named) == len(fields), "each bad field is reported once"
    return body


def post_raw(api: Api, body: bytes | str, path: str = "/v1/predict") -> httpx.Response:
    return api.client.post(path, content=body, headers=JSON)


# ---- wrong types, missing, unknown, out of range -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"LIMIT_BAL": "20000"}, {"LIMIT_BAL"}),
        ({"SEX": True}, {"SEX"}),
        ({"PAY_0": False}, {"PAY_0"}),
        ({"PAY_AMT2": None}, {"PAY_AMT2"}),  # null: a required field, not a number
        ({"BILL_AMT3": [1, 2]}, {"BILL_AMT3"}),
        ({"EDUCATION": {"level": 2}}, {"EDUCATION"}),
        ({"LIMIT_BAL": -5}, {"LIMIT_BAL"}),
        ({"LIMIT_BAL": 0}, {"LIMIT_BAL"}),
        ({"AGE": 5}, {"AGE"}),
        ({"AGE": 101}, {"AGE"}),
        ({"PAY_0": 42}, {"PAY_0"}),
        ({"PAY_6": -3}, {"PAY_6"}),
        ({"PAY_AMT1": -0.01}, {"PAY_AMT1"}),
        ({"BILL_AMT1": 1e9}, {"BILL_AMT1"}),
        ({"EDUCATION": 1.5}, {"EDUCATION"}),
        ({"SEX": 1.0000001}, {"SEX"}),
        ({"MARRIAGE": 7}, {"MARRIAGE"}),
        ({"INCOME": 50_000}, {"INCOME"}),
        ({"customer_id": 12345}, {"customer_id"}),
        ({"customer_id": ["C-1"]}, {"customer_id"}),
        ({"customer_id": "x" * 65}, {"customer_id"}),
        ({"customer_id": ""}, {"customer_id"}),
        (
            {
                "LIMIT_BAL": -5,
                "AGE": 5,
                "PAY_0": 42,
                "EDUCATION": 1.5,
                "SEX": "F",
                "MARRIAGE": None,  # optional: null is "not given", not an error
                "income": 1,
                "customer_id": 7,
            },
            {"LIMIT_BAL", "AGE", "PAY_0", "EDUCATION", "SEX", "income", "customer_id"},
        ),
    ],
    ids=lambda v: json.dumps(v)[:40] if isinstance(v, dict) else None,
)
def test_bad_fields_are_each_named(
    api: Api, changes: dict[str, Any], fields: set[str | None]
) -> None:
    body = assert_refused(api.client.post("/v1/predict", json=customer(**changes)), 422, fields)
    assert body["detail"].startswith(f"{len(fields)} invalid field")


def test_out_of_range_messages_say_the_range(api: Api) -> None:
    body = assert_refused(
        api.client.post("/v1/predict", json=customer(AGE=5, PAY_0=42)), 422, {"AGE", "PAY_0"}
    )
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert "18" in messages["AGE"] and "100" in messages["AGE"]
    assert "-2" in messages["PAY_0"] and "9" in messages["PAY_0"]


@pytest.mark.parametrize("missing", [["LIMIT_BAL"], ["PAY_AMT6", "SEX", "AGE"], list(FIELD_NAMES)])
def test_missing_fields_are_each_named(api: Api, missing: list[str]) -> None:
    """Only the required ones: the protected attributes and EDUCATION are never asked for by
    a model that does not use them (tests/serving/test_predict_optional.py)."""
    record = {k: v for k, v in customer().items() if k not in missing}
    required = {name for name in missing if name not in OPTIONAL}
    body = assert_refused(api.client.post("/v1/predict", json=record), 422, required)
    assert all(e["message"] == "field required" for e in body["errors"])


def test_empty_object_names_every_required_field(api: Api) -> None:
    assert_refused(post_raw(api, b"{}"), 422, set(required_fields()))


# ---- non-finite and huge numbers, sent as raw bytes ----------------------------------------


def raw_body(field: str, literal: str) -> str:
    text = json.dumps(customer(**{field: 123456789}))
    assert text.count("123456789") == 1
    return text.replace("123456789", literal)


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("LIMIT_BAL", "NaN"),
        ("BILL_AMT2", "Infinity"),
        ("PAY_AMT4", "-Infinity"),
        ("AGE", "NaN"),
        ("LIMIT_BAL", "1e400"),
        ("BILL_AMT1", "-1e400"),
        ("PAY_0", "1e400"),
        ("AGE", "1" + "0" * 400),  # a 401-digit integer: parses, but is no float
        ("LIMIT_BAL", "1e-400"),  # underflows to 0: out of range, not an error of its own
    ],
)
def test_non_finite_and_huge_numbers_name_the_field(api: Api, field: str, literal: str) -> None:
    assert_refused(post_raw(api, raw_body(field, literal)), 422, {field})


def test_integer_too_long_to_parse_is_refused_cleanly(api: Api) -> None:
    # Beyond Python's int-parsing digit limit: the body cannot be parsed at all.
    response = post_raw(api, raw_body("AGE", "9" * 5000))
    assert response.status_code in (400, 422)
    assert_refused(response, response.status_code)


# ---- bodies that are not a customer object ---------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"LIMIT_BAL": }', b"{'LIMIT_BAL': 1}", b"LIMIT_BAL=1", b"\xff\xfe\x00", b"[" * 50_000],
    ids=["truncated", "no-value", "single-quotes", "form", "not-utf8", "deep-nesting"],
)
def test_malformed_json_is_400(api: Api, body: bytes) -> None:
    assert_refused(post_raw(api, body), 400, set())


@pytest.mark.parametrize(
    "body", [b"[]", b"[{}]", b'"customer"', b"42", b"null", b"true"], ids=lambda b: b.decode()
)
def test_body_that_is_not_an_object_is_422(api: Api, body: bytes) -> None:
    response = post_raw(api, body)
    assert_refused(response, 422)
    assert "object" in response.json()["detail"]


def test_list_of_customers_on_the_single_endpoint_is_refused(api: Api) -> None:
    assert_refused(api.client.post("/v1/predict", json=[customer()]), 422)


@pytest.mark.parametrize("path", ["/v1/predict", "/predict", "/v1/predict/batch"])
def test_empty_body_is_400(api: Api, path: str) -> None:
    response = api.client.post(path, content=b"", headers=JSON)
    assert_refused(response, 400, set())
    assert "empty" in response.json()["detail"]


# ---- size limits -----------------------------------------------------------------------------


@pytest.fixture
def small_api(make_api: Callable[..., Api]) -> Api:
    return make_api(Settings(max_body_bytes=2048, max_batch_records=5))


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch"])
def test_body_over_max_body_bytes_is_413(small_api: Api, path: str) -> None:
    padded = customer(customer_id="x" * 64)
    body = json.dumps({"records": [padded] * 4} if path.endswith("batch") else padded)
    assert len(body) < 2048 or path.endswith("batch")
    response = small_api.client.post(path, content=b" " * 2100 + body.encode(), headers=JSON)
    assert_refused(response, 413, set())
    assert "2048" in response.json()["detail"]


def test_a_body_just_under_the_limit_is_scored(small_api: Api) -> None:
    body = json.dumps(customer()).encode()
    body += b" " * (2048 - len(body))
    assert len(body) == 2048
    assert small_api.client.post("/v1/predict", content=body, headers=JSON).status_code == 200


def test_streamed_body_over_the_limit_is_413_without_content_length(small_api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 512
        yield json.dumps(customer()).encode()

    response = small_api.client.post("/v1/predict", content=chunks(), headers=JSON)
    assert_refused(response, 413, set())


def test_batch_over_the_record_limit_is_413(small_api: Api) -> None:
    records = [{"LIMIT_BAL": 1}] * 6  # small enough for the byte limit
    response = small_api.client.post("/v1/predict/batch", json={"records": records})
    assert_refused(response, 413, set())


# ---- nothing a client sends makes a 500 -------------------------------------------------------


def test_a_barrage_of_mutations_never_makes_a_5xx(api: Api) -> None:
    values: list[Any] = [None, True, "", "1", [], {}, -1, 0, 0.5, 1e308, -1e308, 2**64, "NaN"]
    for name in (*FIELD_NAMES, "customer_id"):
        for value in values:
            response = api.client.post("/v1/predict", json=customer(**{name: value}))
            assert response.status_code < 500, (name, value, response.text)
            batch = api.client.post(
                "/v1/predict/batch", json={"records": [customer(), customer(**{name: value})]}
            )
            assert batch.status_code < 500, (name, value, batch.text)
            if batch.status_code == 422:
                assert {e["index"] for e in batch.json()["errors"]} == {1}
