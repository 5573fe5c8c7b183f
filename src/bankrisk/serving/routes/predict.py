"""Scoring endpoints: one customer, or a batch answered in order (plain ASGI endpoints: see
serving/endpoints.py for why)."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

from bankrisk.core.scorer import Prediction
from bankrisk.core.validation import (
    CheckedRows,
    FieldError,
    check_records,
    refuse,
    validate_one,
)
from bankrisk.serving.bodies import parse_json, record_pieces
from bankrisk.serving.deps import Service
from bankrisk.serving.endpoints import ApiRoute, Call, Endpoint, Operation, RequestState
from bankrisk.serving.errors import RequestError
from bankrisk.serving.schemas import BatchRequest, BatchResponse, Customer, PredictionResponse

_PROBABILITY = operator.itemgetter("probability_of_default")

# A large batch is scored and serialised in slices of this many records, giving way between
# slices to the single customers (serving/priority.py), so that they are answered meanwhile
# instead of waiting for the whole batch. Parsing and checking a record cost far less than
# scoring it: their slices are longer (fewer give-ways, which cost the batch throughput).
SLICE_RECORDS = 250
_CHECK_RECORDS = 2 * SLICE_RECORDS
_PARSE_BYTES = _CHECK_RECORDS * 400  # about _CHECK_RECORDS records of JSON


async def answer_one(
    service: Service,
    record: Any,
    request: RequestState,
    amend: Callable[[Prediction], Prediction] | None = None,
) -> Prediction:
    """Score one customer's fields (a JSON object as parsed, or a feature store's values):
    the champion's answer, or the canary's for its share, changed by `amend` if given;
    InvalidRecordsError if they are not valid. The request's log line gets the answer's
    fields."""
    models = service.current()  # read once: a reload swaps in a new set, not this one
    values, customer_id = validate_one(record, models.input_rules)
    batcher = models.pick(customer_id, request["request_id"])  # champion or canary
    if amend is None:
        prediction = await batcher.predict(
            values, customer_id, request["request_id"], request["start"]
        )
    else:
        prediction = batcher.predict_amended(
            values, customer_id, request["request_id"], request["start"], amend
        )
    request["log"].update(
        event="scored",
        detail=f"prob={prediction['probability_of_default']:.4f}",
        model_version=batcher.scorer.model_ref["version"],
        records=1,
        decision=prediction["decision"],
        risk_grade=prediction["risk_grade"],
    )
    return {**prediction, "model": batcher.scorer.model_ref}


def one_answer(prediction: Prediction, request: RequestState) -> list[bytes]:
    return [orjson.dumps({**prediction, "request_id": request["request_id"]})]


async def score_one(service: Service, call: Call) -> list[bytes]:
    prediction = await answer_one(service, parse_json(call.body), call.state)
    return one_answer(prediction, call.state)


async def _parse_batch(body: bytes, give_way: Callable[..., Awaitable[None]]) -> Any:
    """The body parsed slice by slice when it is a plain `{"records": [...]}`, else whole."""
    pieces = record_pieces(body, _PARSE_BYTES) if len(body) > _PARSE_BYTES else None
    if pieces is not None:
        records: list[Any] = []
        for piece in pieces:
            try:
                records.extend(orjson.loads(piece))
            except orjson.JSONDecodeError:
                break  # not cut between records, or not valid JSON: parse it whole
            await give_way()
        else:
            return {"records": records}
    return parse_json(body)


def _sliced(checked: list[CheckedRows]) -> Iterator[CheckedRows]:
    """The checked rows and ids again, in slices of at most SLICE_RECORDS."""
    for rows, ids in checked:
        for begin in range(0, len(ids), SLICE_RECORDS):
            end = begin + SLICE_RECORDS
            yield rows[begin:end], ids[begin:end]


async def score_batch(service: Service, call: Call) -> list[bytes]:
    models = service.current()
    scorer = models.champion
    request = call.state
    give_way = service.priority.give_way
    data = await _parse_batch(call.body, give_way)
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list) or not records or set(data) != {"records"}:
        raise RequestError(422, 'body must be {"records": [customer, ...]} with at least one')
    limit = service.settings.max_batch_records
    if len(records) > limit:
        raise RequestError(413, f"{len(records)} records: the batch limit is {limit}")

    count = len(records)
    slices: list[CheckedRows] = []
    errors: list[FieldError] = []
    for begin in range(0, count, _CHECK_RECORDS):
        # Taken out of the list as they are checked: the parsed records (about 25 objects
        # each) are freed slice by slice, not in one long pause when the request ends.
        chunk = records[:_CHECK_RECORDS]
        del records[:_CHECK_RECORDS]
        checked = check_records(chunk, begin, rules=models.input_rules)
        if isinstance(checked, list):
            errors.extend(checked)
        elif not errors:
            slices.append(checked)
        del chunk
        await give_way()
    if errors:
        raise refuse(errors)

    head = orjson.dumps({"model": scorer.model_ref, "request_id": request["request_id"]})
    parts, total = [head[:-1] + b',"predictions":['], 0.0
    for rows, ids in _sliced(slices):
        predictions, after = models.score_slice(rows, ids, request["request_id"], request["start"])
        await give_way(False)  # new arrivals start; the batch does not wait for them here
        after()  # metrics, drift, log (serving/served.py)
        total += sum(map(_PROBABILITY, predictions))
        items = orjson.dumps(predictions)[1:-1]  # the array's items, without [ ]
        parts.append(items if len(parts) == 1 else b"," + items)
        await give_way()
    parts.append(b"]}")
    request["log"].update(
        event=f"scored {count} customers",
        detail=f"mean_prob={total / count:.4f}",
        model_version=scorer.model_ref["version"],
        records=count,
    )
    return parts


_ONE = Operation("Score one customer", Customer, PredictionResponse, errors={}, path_params={})
ROUTES = [
    ApiRoute("/v1/predict", Endpoint(score_one), _ONE),
    ApiRoute(
        "/predict",
        Endpoint(score_one),
        Operation(
            "Score one customer (the original design's path; same as /v1/predict)",
            Customer,
            PredictionResponse,
            errors={},
            path_params={},
            deprecated=True,
        ),
    ),
    ApiRoute(
        "/v1/predict/batch",
        Endpoint(score_batch, interactive=False),
        Operation(
            "Score up to the batch limit, answered in order",
            BatchRequest,
            BatchResponse,
            errors={},
            path_params={},
        ),
    ),
]
