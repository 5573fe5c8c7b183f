"""Scoring endpoints: one customer, or a batch answered in order.

They are plain ASGI endpoints rather than FastAPI routes: FastAPI's per-request machinery
(dependency solving, request objects, response classes) costs more than scoring a customer
does, and these are the hot paths. They keep the API's contract (same JSON, same errors,
same auth) and are documented in the OpenAPI schema by `openapi_paths()`.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import numpy as np
import orjson
from starlette.routing import Match, Route

from bankrisk.core.scorer import ModelRef, Prediction
from bankrisk.core.validation import (
    check_records,
    parse_json,
    record_pieces,
    refuse,
    validate_one,
)
from bankrisk.serving.deps import Service, service_of
from bankrisk.serving.drift_gauge import Rows, ScoredRows
from bankrisk.serving.errors import RequestError, error_body
from bankrisk.serving.observability import ASGIApp, Receive, Scope, Send
from bankrisk.serving.schemas import ERROR_DESCRIPTIONS


class RequestState(TypedDict):
    """`scope["state"]` as ObservabilityMiddleware sets it: the id, and fields to log."""

    request_id: str
    start: float  # time.perf_counter() when the request arrived
    log: dict[str, Any]


# A handler turns a request body into the JSON of a 200, in pieces sent one after the other
# (a large batch's answer is never copied into one buffer), or raises RequestError.
Handler = Callable[[Service, bytes, RequestState], Awaitable[list[bytes]]]
_JSON = (b"content-type", b"application/json")
_PROBABILITY = operator.itemgetter("probability_of_default")

# A large batch is parsed, validated, scored and serialised in slices of this many records
# (~6 ms of work each), handing the event loop back between slices, so that the requests of
# other clients are answered meanwhile instead of waiting for the whole batch.
SLICE_RECORDS = 500
_SLICE_BYTES = SLICE_RECORDS * 400  # about SLICE_RECORDS records of JSON
# Past the body limit the rest of the body is still read (and discarded), up to this many
# times the limit and for this long: clients that send the whole body before reading the
# answer (urllib, httpx) would otherwise get a connection reset instead of the 413.
DRAIN_FACTOR = 4
DRAIN_SECONDS = 10.0


async def _next_turn() -> None:
    """Let the event loop run whatever else is ready (other clients' requests)."""
    await asyncio.sleep(0)


async def score_one(service: Service, body: bytes, request: RequestState) -> list[bytes]:
    models = service.current()  # read once: a reload swaps in a new set, not this one
    values, customer_id = validate_one(parse_json(body))
    scorer, batcher = models.pick(customer_id, request["request_id"])  # champion or canary
    prediction = await batcher.predict(values, customer_id)
    if models.shadow is not None:
        models.shadow.submit(request["request_id"], [values], [customer_id])
    if service.log_writer is not None:
        latency_ms = (time.perf_counter() - request["start"]) * 1000
        scored: list[tuple[Rows, list[Prediction]]] = [([values], [prediction])]
        service.log_writer.submit_group(
            ScoredRows(request["request_id"], scorer.model_ref, scored, latency_ms)
        )
    request["log"].update(
        event="scored",
        detail=f"prob={prediction['probability_of_default']:.4f}",
        model_version=scorer.model_ref["version"],
        records=1,
        decision=prediction["decision"],
        risk_grade=prediction["risk_grade"],
    )
    return [
        orjson.dumps({**prediction, "model": scorer.model_ref, "request_id": request["request_id"]})
    ]


async def _parse_batch(body: bytes) -> Any:
    """The body parsed slice by slice when it is a plain `{"records": [...]}`, else whole."""
    pieces = record_pieces(body, _SLICE_BYTES) if len(body) > _SLICE_BYTES else None
    if pieces is not None:
        records: list[Any] = []
        for piece in pieces:
            try:
                records.extend(orjson.loads(piece))
            except orjson.JSONDecodeError:
                break  # not cut between records, or not valid JSON: parse it whole
            await _next_turn()
        else:
            return {"records": records}
    return parse_json(body)


async def score_batch(service: Service, body: bytes, request: RequestState) -> list[bytes]:
    models = service.current()
    scorer = models.champion
    data = await _parse_batch(body)
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list) or not records or set(data) != {"records"}:
        raise RequestError(422, 'body must be {"records": [customer, ...]} with at least one')
    limit = service.settings.max_batch_records
    if len(records) > limit:
        raise RequestError(413, f"{len(records)} records: the batch limit is {limit}")

    count = len(records)
    slices, errors = [], []
    for begin in range(0, count, SLICE_RECORDS):
        # Taken out of the list as they are checked: the parsed records (about 25 objects
        # each) are freed slice by slice, not in one long pause when the request ends.
        chunk = records[:SLICE_RECORDS]
        del records[:SLICE_RECORDS]
        checked = check_records(chunk, begin)
        if isinstance(checked, list):
            errors.extend(checked)
        elif not errors:
            slices.append(checked)
        del chunk
        await _next_turn()
    if errors:
        raise refuse(errors)

    head = orjson.dumps({"model": scorer.model_ref, "request_id": request["request_id"]})
    parts, total = [head[:-1] + b',"predictions":['], 0.0
    # Rows logged per answering model (the champion, and the canary for its share).
    logged: dict[str, tuple[ModelRef, list[tuple[Rows, list[Prediction]]]]] = {}
    for rows, ids in slices:
        predictions, answered = models.score_slice(rows, ids, request["request_id"])
        await _next_turn()
        for by, by_rows, by_predictions in answered:
            ref = by.model_ref
            service.metrics.record_predictions(by_predictions, ref)
            if service.log_writer is not None:
                logged.setdefault(ref["role"], (ref, []))[1].append((by_rows, by_predictions))
        if models.shadow is not None:
            models.shadow.submit(request["request_id"], rows, ids)
        total += sum(map(_PROBABILITY, predictions))
        items = orjson.dumps(predictions)[1:-1]  # the array's items, without [ ]
        parts.append(items if len(parts) == 1 else b"," + items)
        await _next_turn()
    parts.append(b"]}")
    if models.drift is not None:  # once: its cost is mostly per call (23 fields' bins)
        models.drift.update(slices[0][0] if len(slices) == 1 else np.vstack([r for r, _ in slices]))
    if service.log_writer is not None:
        latency_ms = (time.perf_counter() - request["start"]) * 1000
        for ref, groups in logged.values():
            service.log_writer.submit_group(
                ScoredRows(request["request_id"], ref, groups, latency_ms)
            )
    request["log"].update(
        event=f"scored {count} customers",
        detail=f"mean_prob={total / count:.4f}",
        model_version=scorer.model_ref["version"],
        records=count,
    )
    return parts


class RequestBody:
    """The request body, refused (413) past `limit` bytes before all of it is read."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.complete = False  # the client has sent everything (or gone)
        self.received = 0
        self.length: int | None = None
        self.expects_continue = False
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit():
                self.length = int(value)
            elif key == b"expect" and value.lower() == b"100-continue":
                self.expects_continue = True

    def _too_large(self) -> RequestError:
        return RequestError(413, f"request body over the {self.limit}-byte limit")

    async def _message(self) -> bytes:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.complete = True
            raise RequestError(400, "client disconnected")
        chunk: bytes = message.get("body", b"")
        self.received += len(chunk)
        self.complete = not message.get("more_body", False)
        return chunk

    async def read(self) -> bytes:
        if self.length is not None and self.length > self.limit:
            raise self._too_large()
        chunks = []
        while not self.complete:
            chunks.append(await self._message())
            if self.received > self.limit:
                raise self._too_large()
        body = b"".join(chunks)
        if not body:
            raise RequestError(400, "empty request body: send a JSON object")
        return body

    async def drain(self) -> bool:
        """Read and discard the rest of the body, within DRAIN_FACTOR x limit bytes and
        DRAIN_SECONDS; False if some is left unread (the connection must then be closed).

        A client that sent `Expect: 100-continue` and nothing yet is waiting for the answer
        before it sends the body: reading would ask it for the body, so nothing is read.
        """
        if self.complete:
            return True
        cap = DRAIN_FACTOR * self.limit
        if (self.expects_continue and self.received == 0) or (self.length or 0) > cap:
            return False
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while not self.complete and self.received <= cap:
                    await self._message()
        except (TimeoutError, RequestError):  # too slow, or the client went away
            pass
        return self.complete


class ScoringEndpoint:
    """ASGI endpoint: auth, size-limited body, then `handler`; errors as JSON."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_of(scope["app"])
        body = RequestBody(scope, receive, service.settings.max_body_bytes)
        headers = [_JSON]
        try:
            service.auth.check(scope["headers"])
            content = await self.handler(service, await body.read(), scope["state"])
            status = 200
        except RequestError as exc:
            status, content = exc.status, [error_body(exc.detail, exc.errors)]
            headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
            # Answered before the whole body was read (auth, size): read the rest first so
            # that the client, still sending, can read the answer.
            if not await body.drain():
                headers.append((b"connection", b"close"))

        headers.append((b"content-length", str(sum(map(len, content))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        last = len(content) - 1
        for i, piece in enumerate(content):
            # Uvicorn waits here while the client is slow to read: other requests go on.
            await send({"type": "http.response.body", "body": piece, "more_body": i < last})


class ScoringRoute(Route):
    """A Starlette route that, like FastAPI's, tells middleware which route matched."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


ROUTES = [
    ScoringRoute("/v1/predict", ScoringEndpoint(score_one), methods=["POST"]),
    ScoringRoute("/predict", ScoringEndpoint(score_one), methods=["POST"]),
    ScoringRoute("/v1/predict/batch", ScoringEndpoint(score_batch), methods=["POST"]),
]


async def to_route(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint of the route `ScoringShortcut` matched."""
    await scope["route"].app(scope, receive, send)


class ScoringShortcut:
    """What `bankrisk serve` runs: a `POST` to a scoring path goes to `scoring` (the request
    log middleware around `to_route`), past FastAPI's own middleware and router (~5 us of a
    single-customer request); everything else goes to `app`, where the same routes live too
    (405 on GET, the OpenAPI schema, in-process clients)."""

    def __init__(self, app: ASGIApp, scoring: ASGIApp) -> None:
        self.app = app
        self.scoring = scoring
        self.routes = {route.path: route for route in ROUTES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # as Starlette sets it: the endpoints find the service there
        scope["route"] = route
        await self.scoring(scope, receive, send)


def _operation(summary: str, body: str, response: str, deprecated: bool = False) -> dict[str, Any]:
    def ref(model: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}

    operation: dict[str, Any] = {
        "tags": ["scoring"],
        "summary": summary,
        "requestBody": {"required": True, "content": ref(body)},
        "responses": {
            "200": {"description": "Scored", "content": ref(response)},
            **{
                str(code): {"description": text, "content": ref("ErrorResponse")}
                for code, text in ERROR_DESCRIPTIONS.items()
            },
        },
    }
    if deprecated:
        operation["deprecated"] = True
    return operation


def openapi_paths() -> dict[str, Any]:
    """OpenAPI path items of the scoring endpoints (component names from schemas.py)."""
    return {
        "/v1/predict": {"post": _operation("Score one customer", "Customer", "PredictionResponse")},
        "/predict": {
            "post": _operation(
                "Score one customer (the original design's path; same as /v1/predict)",
                "Customer",
                "PredictionResponse",
                deprecated=True,
            )
        },
        "/v1/predict/batch": {
            "post": _operation(
                "Score up to the batch limit, answered in order", "BatchRequest", "BatchResponse"
            )
        },
    }
