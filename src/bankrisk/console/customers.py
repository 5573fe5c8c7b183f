"""A customer for the console's pages: from the form's 23 fields, or by id (the feature store,
or, when none is configured, the inputs the prediction log last recorded), scored with the
core; with what would change the outcome and the customer's scores over time.

Every refusal is a `CustomerError`: a message for the page naming the field and why.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bankrisk.console.state import ConsoleState
from bankrisk.core.counterfactual import Counterfactuals, bundle_scorer, search
from bankrisk.core.scorer import Prediction
from bankrisk.core.validation import (
    InvalidRecordsError,
    customer_id_error,
    field_error,
    input_rules,
    validate_one,
)
from bankrisk.errors import BankRiskError
from bankrisk.prediction_log.history import ScoredAt, customer_history, latest_inputs
from bankrisk.schema import FIELD_NAMES, FIELDS, FIELDS_BY_NAME

CUSTOMER_ID = "customer_id"
# The form's sections: (legend, fields), every one of the 23 fields once.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Account", ("LIMIT_BAL",)),
    ("About the customer (optional)", ("SEX", "EDUCATION", "MARRIAGE", "AGE")),
    ("Repayment status, most recent month first", tuple(f.name for f in FIELDS[5:11])),
    ("Bill amounts (NT$), most recent month first", tuple(f.name for f in FIELDS[11:17])),
    ("Amounts paid (NT$), most recent month first", tuple(f.name for f in FIELDS[17:23])),
)
assert sorted(n for _, names in SECTIONS for n in names) == sorted(FIELD_NAMES)


class CustomerError(BankRiskError):
    """The customer cannot be shown: `message` for the page, `errors` by field name."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


@dataclass(frozen=True)
class Found:
    """A customer's validated fields (NaN: unknown optional field) and where they came from."""

    values: list[float]
    customer_id: str | None
    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerView:
    """Everything the Customer page shows of one customer."""

    found: Found
    prediction: Prediction
    counterfactuals: Counterfactuals
    history: list[ScoredAt] = field(default_factory=list)
    history_note: str = ""

    @property
    def fields(self) -> dict[str, str]:
        """The fields as the form and the notice's hidden inputs carry them ('' unknown)."""
        return {n: text_of(v) for n, v in zip(FIELD_NAMES, self.found.values, strict=True)}

    @property
    def declined_or_downgraded(self) -> bool:
        return self.prediction["decision"] != "approve"


def text_of(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def form_text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def from_form(form: Mapping[str, Any], state: ConsoleState) -> Found:
    """The customer the form's fields describe; CustomerError naming each bad field."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for j, name in enumerate(FIELD_NAMES):
        text = form_text(form, name)
        if not text:
            body[name] = None
            continue
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            errors[name] = f"{text!r} is not a number"
            continue
        body[name] = int(number) if number.is_integer() and abs(number) < 2**53 else number
        problem = field_error(j, body[name])
        if problem is not None:
            errors[name] = problem
    customer_id = form_text(form, CUSTOMER_ID) or None
    if customer_id is not None:
        body[CUSTOMER_ID] = customer_id
    rules = input_rules(state.bundle.feature_set)
    body = {k: v for k, v in body.items() if v is not None or not rules.optional(k)}
    for name in FIELD_NAMES:
        if name in rules.required and body.get(name) is None and name not in errors:
            errors[name] = f"required ({FIELDS_BY_NAME[name].description})"
    if errors:
        raise CustomerError(_summary(errors), errors)
    try:
        values, _ = validate_one(body, rules)
    except InvalidRecordsError as exc:
        by_field = {e["field"] or CUSTOMER_ID: e["message"] for e in exc.errors}
        raise CustomerError(_summary(by_field), by_field) from None
    return Found(values, customer_id, "the form")


def _summary(errors: Mapping[str, str]) -> str:
    listed = "; ".join(f"{name}: {message}" for name, message in errors.items())
    return f"{len(errors)} field{'s' if len(errors) > 1 else ''} to correct: {listed}"


_features_lock = threading.Lock()
_features: dict[str, Any] = {}


def _online_features(state: ConsoleState) -> Any:
    """The feature store's reader, opened once per repository (Feast is imported then)."""
    from bankrisk.feature_store.online import OnlineFeatures

    repo = state.settings.feature_repo
    assert repo is not None
    with _features_lock:
        reader = _features.get(str(repo))
        if reader is None:
            reader = _features[str(repo)] = OnlineFeatures(
                repo, state.settings.feature_store_timeout_s
            )
    return reader


def by_id(customer_id: str, state: ConsoleState) -> Found:
    """The customer's fields from the feature store, else from the log's latest inputs."""
    problem = customer_id_error(customer_id)
    if not customer_id or problem is not None:
        reason = problem or "it is empty"
        raise CustomerError(f"customer id: {reason}", {CUSTOMER_ID: reason})
    if state.settings.feature_repo is not None:
        return _from_feature_store(customer_id, state)
    note = (
        "No feature store is configured (BANKRISK_FEATURE_REPO is unset): these are the "
        "fields the prediction log last recorded for this customer."
    )
    if state.store is None:
        raise CustomerError(
            "No feature store is configured (BANKRISK_FEATURE_REPO) and the prediction log is "
            "off: customers can only be scored from the form.",
            {CUSTOMER_ID: "no feature store configured"},
        )
    logged = latest_inputs(state.store, customer_id)
    if logged is None:
        raise CustomerError(
            f"No customer {customer_id!r} in the prediction log (and no feature store is "
            "configured: BANKRISK_FEATURE_REPO). Check the id, or enter the fields in the form.",
            {CUSTOMER_ID: "unknown customer id"},
        )
    values = [math.nan if v is None else v for v in logged.values.values()]
    when = f"Last scored {logged.time:%Y-%m-%d %H:%M} UTC."
    return Found(values, customer_id, "the prediction log", (note, when))


# What the API does with features older than the TTL, by BANKRISK_STALE_FEATURES.
_STALE_POLICY = {
    "review": "the API answers `review` for them, whatever the model decides.",
    "warn": "the API answers the model's decision with a warning.",
    "refuse": "the API refuses to score them (409).",
}


def _days(delta: timedelta | None) -> str:
    return "?" if delta is None else f"{delta.total_seconds() / 86400:.0f} days"


def _from_feature_store(customer_id: str, state: ConsoleState) -> Found:
    from bankrisk.feature_store.online import StoreUnavailableError

    try:
        features = _online_features(state).read(customer_id)
    except StoreUnavailableError as exc:
        raise CustomerError(f"The feature store cannot answer: {exc}") from None
    if features is None:
        raise CustomerError(
            f"No customer {customer_id!r} in the feature store. Check the id, or enter the "
            "fields in the form.",
            {CUSTOMER_ID: "unknown customer id"},
        )
    notes = []
    if features.stale:
        notes.append(
            f"These values were recorded {_days(features.age)} ago, longer ago than the feature "
            f"store's TTL of {_days(features.ttl)}: {_STALE_POLICY[state.settings.stale_features]}"
        )
    try:  # the store's values checked like a form's (an optional field may be absent)
        values, _ = validate_one(features.values, input_rules(state.bundle.feature_set))
    except InvalidRecordsError as exc:
        raise CustomerError(
            f"The feature store's values of customer {customer_id!r}: {exc}"
        ) from None
    return Found(values, customer_id, "the feature store", tuple(notes))


def view(found: Found, state: ConsoleState) -> CustomerView:
    """Score the customer and gather the page: counterfactuals, scores over time."""
    prediction = state.scorer.predict_one(found.values, found.customer_id)
    counterfactuals = search(found.values, bundle_scorer(state.bundle))
    history: list[ScoredAt] = []
    note = ""
    if found.customer_id is None:
        note = "Give a customer id to see the customer's scores over time."
    elif state.store is None:
        note = "The prediction log is off (BANKRISK_PREDICTION_LOG=off): no scores over time."
    else:
        try:
            history = customer_history(state.store, found.customer_id)
        except BankRiskError as exc:
            note = str(exc)
        if not history and not note:
            note = "The prediction log holds no earlier score of this customer."
    return CustomerView(found, prediction, counterfactuals, history, note)


def history_labels(history: list[ScoredAt]) -> list[tuple[str, float | None]]:
    return [(_day(s.time), s.pd) for s in history]


def _day(when: datetime) -> str:
    return f"{when:%Y-%m-%d}"
