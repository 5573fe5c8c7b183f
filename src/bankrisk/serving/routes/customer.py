"""`POST /v1/predict/customer/{customer_id}`: score a customer by id, with the 23 fields read
from the Feast online store (`BANKRISK_FEATURE_REPO`).

The fields read go through `/v1/predict`'s own scoring (`predict.answer_one`), so the answer,
validation, metrics, JSON log line and prediction log are exactly those of `/v1/predict` for
the same fields, with `customer_id` set. Errors: 404 for an id the store does not hold and
when no store is configured, 503 when the store is missing or cannot be read, never a 500.
Features older than the TTL are handled as `BANKRISK_STALE_FEATURES` says: answered `review`
(the default), scored with only a warning, or refused with a 409. Without the setting nothing
here imports Feast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bankrisk.config import Settings
from bankrisk.core.scorer import Prediction
from bankrisk.core.validation import MAX_CUSTOMER_ID_LENGTH, InvalidRecordsError
from bankrisk.feature_store.online import CustomerFeatures, OnlineFeatures, StoreUnavailableError
from bankrisk.serving.deps import Service
from bankrisk.serving.endpoints import ApiRoute, Call, Endpoint, Operation
from bankrisk.serving.errors import RequestError
from bankrisk.serving.gc_tuning import freeze_loaded
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
    return found


HELD_FOR_REVIEW = (
    "decision held for review: the model's decision on features this old is not taken "
    "automatically (BANKRISK_STALE_FEATURES=review)"
)


def _stale_answer(found: CustomerFeatures, policy: str) -> Callable[[Prediction], Prediction]:
    """How a prediction on features older than the TTL is answered (and logged), by policy;
    `refuse` never gets here."""
    warnings = [stale_warning(found)]
    if policy == "review":
        warnings.append(HELD_FOR_REVIEW)

    def amend(prediction: Prediction) -> Prediction:
        amended = prediction.copy()
        amended["warnings"] = [*prediction["warnings"], *warnings]
        if policy == "review":
            amended["decision"] = "review"
        return amended

    return amend


async def score_customer(service: Service, call: Call) -> list[bytes]:
    """The JSON of a 200, or RequestError."""
    customer_id = call.path_params["customer_id"]
    if not 0 < len(customer_id) <= MAX_CUSTOMER_ID_LENGTH:
        raise RequestError(422, f"customer id must be 1 to {MAX_CUSTOMER_ID_LENGTH} characters")
    if service.features is None:  # off on this instance, as an admin route without its key: 404
        raise RequestError(404, NOT_CONFIGURED)
    service.current()  # 503 before reading the store when no model is loaded
    found = await _features(service.features, customer_id)
    policy = service.settings.stale_features
    if found.stale and policy == "refuse":
        raise RequestError(
            409, f"{stale_warning(found)}; not scored (BANKRISK_STALE_FEATURES=refuse): "
            "materialize fresh features, or post the customer's current fields to /v1/predict"
        )
    amend = _stale_answer(found, policy) if found.stale else None
    try:
        answer = await answer_one(
            service, {**found.values, "customer_id": customer_id}, call.state, amend
        )
    except InvalidRecordsError as exc:
        raise RequestError(
            503, f"the feature store holds invalid fields for customer {customer_id!r}", exc.errors
        ) from None
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
            409: "The customer's features are older than the TTL and BANKRISK_STALE_FEATURES "
            "is `refuse`",
            503: "No model loaded, or the feature store is missing or cannot be read",
        },
        path_params={"customer_id": {"type": "string", "minLength": 1, "maxLength": 64}},
    ),
)


def open_features(settings: Settings, logger: JsonLogger) -> OnlineFeatures | None:
    """With `settings.feature_repo`, start opening its store (Feast is imported then, on a
    reader thread; what it loads is frozen out of the collector's full passes, as the rest
    was at the start) and log how that went; else None."""
    if settings.feature_repo is None:
        return None
    repo = str(settings.feature_repo)
    features = OnlineFeatures(settings.feature_repo, settings.feature_store_timeout_s)
    features.start(
        lambda severity, message: logger.emit(severity, message, feature_repo=repo),
        opened=freeze_loaded,
    )
    return features
