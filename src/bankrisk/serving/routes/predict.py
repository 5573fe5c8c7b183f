"""Scoring endpoints: one customer, or a batch answered in order.

They are plain ASGI endpoints rather than FastAPI routes: FastAPI's per-request machinery
(dependency solving, request objects, response classes) costs more than scoring a customer
does, and these are the hot paths. They keep the API's contract (same JSON, same errors,
same auth) and are documented in the OpenAPI schema by `openapi_paths()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.routing import Match, Route

from bankrisk.serving.deps import loaded_scorer
from bankrisk.serving.observability import Receive, Scope, Send
from bankrisk.serving.schemas import ERROR_DESCRIPTIONS
from bankrisk.serving.validation import RequestError, parse_json, validate_records

Handler = Callable[[Any, Any, dict[str, Any]], Awaitable[dict[str, Any]]]
_JSON = (b"content-type", b"application/json")


async def score_one(state: Any, body: Any, request: dict[str, Any]) -> dict[str, Any]:
    service = loaded_scorer(state)
    if not isinstance(body, dict):
        raise RequestError(422, "body must be a JSON object of one customer's fields")
    rows, ids = validate_records([body], indexed=False)
    pd, decision, grade, prediction = await state.batcher.predict(rows, ids[0])
    request["log"].update(
        event="scored",
        detail=f"prob={pd:.4f}",
        model_version=service.model_ref["version"],
        records=1,
        decision=decision,
        risk_grade=grade,
    )
    return {**prediction, "model": service.model_ref, "request_id": request["request_id"]}


async def score_batch(state: Any, body: Any, request: dict[str, Any]) -> dict[str, Any]:
    service = loaded_scorer(state)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records or set(body) != {"records"}:
        raise RequestError(422, 'body must be {"records": [customer, ...]} with at least one')
    limit = state.settings.max_batch_records
    if len(records) > limit:
        raise RequestError(413, f"{len(records)} records: the batch limit is {limit}")
    rows, ids = validate_records(records)
    scores, predictions = service.predict(rows, ids)
    state.metrics.record_scores(scores.pd, scores.decisions, scores.grades)
    request["log"].update(
        event=f"scored {len(records)} customers",
        detail=f"mean_prob={scores.pd.mean():.4f}",
        model_version=service.model_ref["version"],
        records=len(records),
    )
    return {
        "model": service.model_ref,
        "request_id": request["request_id"],
        "predictions": predictions,
    }


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (413) before reading it all."""
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            raise RequestError(413, f"request body over the {limit}-byte limit")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body over the {limit}-byte limit")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if not body:
        raise RequestError(400, "empty request body: send a JSON object")
    return body


class ScoringEndpoint:
    """ASGI endpoint: auth, size-limited body, JSON, then `handler`; errors as JSON."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        headers = [_JSON]
        try:
            state.auth.check(scope["headers"])
            body = await _read_body(scope, receive, state.settings.max_body_bytes)
            status, payload = 200, await self.handler(state, parse_json(body), scope["state"])
        except RequestError as exc:
            status, payload = exc.status, {"detail": exc.detail, "errors": exc.errors}
            headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]

        content = orjson.dumps(payload)
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


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
