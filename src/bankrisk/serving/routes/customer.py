"""`POST /v1/predict/customer/{customer_id}`: score a customer by id, with the 23 fields read
from the Feast online store (`BANKRISK_FEATURE_REPO`).

The fields read are handed to `/v1/predict`'s own handler (`predict.score_one`) as the body
it would have received, so the answer, validation, metrics, JSON log line and prediction log
are exactly those of `/v1/predict` for the same fields, with `customer_id` set. Errors: 404 for
an id the store does not hold (or holds only expired) and when no store is configured, 503 when
the store is missing or cannot be read, never a 500. Features older than the TTL are scored, with a
warning. Without the setting nothing here imports Feast.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from starlette.routing import Match, Route

from bankrisk.config import Settings
from bankrisk.core.validation import MAX_CUSTOMER_ID_LENGTH
from bankrisk.feature_store.online import CustomerFeatures, OnlineFeatures, StoreUnavailableError
from bankrisk.serving.deps import Service, service_of
from bankrisk.serving.errors import RequestError, error_body
from bankrisk.serving.observability import JsonLogger, Receive, Scope, Send
from bankrisk.serving.routes.predict import RequestState, score_one
from bankrisk.serving.schemas import ERROR_DESCRIPTIONS

PATH = "/v1/predict/customer/{customer_id}"
NOT_CONFIGURED = (
    "feature store not configured: set BANKRISK_FEATURE_REPO to a Feast repository "
    "to score customers by id"
)


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f} days"


def stale_warning(found: CustomerFeatures) -> str:
    age, ttl = found.age, found.ttl
    assert age is not None and ttl is not None and found.event_time is not None
    return (
        f"features recorded {found.event_time.isoformat(timespec='seconds')}, "
        f"{_days(age)} ago: older than the feature store's TTL of {_days(ttl)}; "
        "the customer's data may have changed since"
    )


async def _features(features: OnlineFeatures, customer_id: str) -> CustomerFeatures:
    try:
        found = await features.fetch(customer_id)
    except StoreUnavailableError as exc:
        raise RequestError(503, str(exc)) from None
    if found is None:
        raise RequestError(404, f"customer {customer_id!r} not found in the feature store")
    if found.values is None:
        raise RequestError(
            404, f"features of customer {customer_id!r} are older than the TTL and expired"
        )
    return found


async def score_customer(
    service: Service, features: OnlineFeatures | None, customer_id: str, request: RequestState
) -> list[bytes]:
    """The JSON of a 200, or RequestError."""
    if not 0 < len(customer_id) <= MAX_CUSTOMER_ID_LENGTH:
        raise RequestError(422, f"customer id must be 1 to {MAX_CUSTOMER_ID_LENGTH} characters")
    if features is None:  # off on this instance, as an admin route without its key: 404
        raise RequestError(404, NOT_CONFIGURED)
    service.loaded()  # 503 before reading the store when no model is loaded
    found = await _features(features, customer_id)
    body = orjson.dumps({**(found.values or {}), "customer_id": customer_id})
    try:
        content = await score_one(service, body, request)
    except RequestError as exc:
        if exc.status != 422:
            raise
        raise RequestError(
            503, f"the feature store holds invalid fields for customer {customer_id!r}", exc.errors
        ) from None
    if found.stale:
        answer = orjson.loads(b"".join(content))
        answer["warnings"].append(stale_warning(found))
        content = [orjson.dumps(answer)]
    request["log"]["feature_time"] = found.event_time
    return content


class CustomerEndpoint:
    """ASGI endpoint: auth, then `score_customer`; errors as JSON (the body is ignored)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        service = service_of(app)
        headers = [(b"content-type", b"application/json")]
        try:
            service.auth.check(scope["headers"])
            customer_id = scope["path_params"]["customer_id"]
            features = getattr(app.state, "customer_features", None)
            content = await score_customer(service, features, customer_id, scope["state"])
            status = 200
        except RequestError as exc:
            status, content = exc.status, [error_body(exc.detail, exc.errors)]
            headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        body = b"".join(content)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class CustomerRoute(Route):
    """Tells middleware which route matched (metrics are labelled by the template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


ROUTE = CustomerRoute(PATH, CustomerEndpoint(), methods=["POST"])


def install(app: Any, settings: Settings, logger: JsonLogger) -> None:
    """Add the route; with `settings.feature_repo`, start opening its store (Feast is
    imported then, on a reader thread) and log how that went."""
    features = None
    if settings.feature_repo is not None:
        repo = str(settings.feature_repo)
        features = OnlineFeatures(settings.feature_repo)
        features.start(lambda severity, message: logger.emit(severity, message, feature_repo=repo))
    app.state.customer_features = features
    app.router.routes.append(ROUTE)


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path item of the route (component names from schemas.py)."""

    def ref(model: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}

    errors = {
        **{str(code): text for code, text in ERROR_DESCRIPTIONS.items()},
        "404": "The feature store holds no features of this customer, or none is configured",
        "503": "No model loaded, or the feature store is missing or cannot be read",
    }
    return {
        PATH: {
            "post": {
                "tags": ["scoring"],
                "summary": "Score a customer by id, the fields read from the feature store",
                "parameters": [
                    {
                        "name": "customer_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                    }
                ],
                "responses": {
                    "200": {"description": "Scored", "content": ref("PredictionResponse")},
                    **{
                        code: {"description": text, "content": ref("ErrorResponse")}
                        for code, text in errors.items()
                    },
                },
            }
        }
    }
