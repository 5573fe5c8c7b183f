"""`POST /v1/predict/customer/{customer_id}`: score a customer by id, with the 23 fields read
from the Feast online store (`BANKRISK_FEATURE_REPO`).

The fields read go through `/v1/predict`'s own scoring (`predict.answer_one`), so the answer,
validation, metrics, JSON log line and prediction log are exactly those of `/v1/predict` for
the same fields, with `customer_id` set. Errors: 404 for an id the store does not hold (or
holds only expired) and when no store is configured, 503 when the store is missing or cannot
be read, never a 500. Features older than the TTL are scored, with a warning. Without the
setting nothing here imports Feast.
"""

from __future__ import annotations

from datetime import timedelta

from bankrisk.config import Settings
from bankrisk.core.validation import MAX_CUSTOMER_ID_LENGTH, InvalidRecordsError
from bankrisk.feature_store.online import CustomerFeatures, OnlineFeatures, StoreUnavailableError
from bankrisk.serving.deps import Service
from bankrisk.serving.endpoints import ApiRoute, Call, Endpoint, Operation
from bankrisk.serving.errors import RequestError
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.routes.predict import answer_one, one_answer
from bankrisk.serving.schemas import PredictionResponse

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


async def score_customer(service: Service, call: Call) -> list[bytes]:
    """The JSON of a 200, or RequestError."""
    customer_id = call.path_params["customer_id"]
    if not 0 < len(customer_id) <= MAX_CUSTOMER_ID_LENGTH:
        raise RequestError(422, f"customer id must be 1 to {MAX_CUSTOMER_ID_LENGTH} characters")
    if service.features is None:  # off on this instance, as an admin route without its key: 404
        raise RequestError(404, NOT_CONFIGURED)
    service.current()  # 503 before reading the store when no model is loaded
    found = await _features(service.features, customer_id)
    try:
        answer = await answer_one(
            service, {**(found.values or {}), "customer_id": customer_id}, call.state
        )
    except InvalidRecordsError as exc:
        raise RequestError(
            503, f"the feature store holds invalid fields for customer {customer_id!r}", exc.errors
        ) from None
    if found.stale:
        answer["warnings"] = [*answer["warnings"], stale_warning(found)]
    call.state["log"]["feature_time"] = found.event_time
    return one_answer(answer, call.state)


ROUTE = ApiRoute(
    PATH,
    Endpoint(score_customer, reads_body=False),
    Operation(
        "Score a customer by id, the fields read from the feature store",
        None,
        PredictionResponse,
        errors={
            404: "The feature store holds no features of this customer, or none is configured",
            503: "No model loaded, or the feature store is missing or cannot be read",
        },
        path_params={"customer_id": {"type": "string", "minLength": 1, "maxLength": 64}},
    ),
)


def open_features(settings: Settings, logger: JsonLogger) -> OnlineFeatures | None:
    """With `settings.feature_repo`, start opening its store (Feast is imported then, on a
    reader thread) and log how that went; else None."""
    if settings.feature_repo is None:
        return None
    repo = str(settings.feature_repo)
    features = OnlineFeatures(settings.feature_repo)
    features.start(lambda severity, message: logger.emit(severity, message, feature_repo=repo))
    return features
