"""One customer's scores over time, read from the prediction log by customer id.

The query filters on the log's customer column, which carries an index
(`ix_predictions_customer_id`): reading a customer's history costs a look-up, whatever the
size of the log. A pseudonymised log stores a keyed hash of each id: the id asked for is
hashed the same way (`PredictionStore.customer_key`) before the look-up. Only the champion's
rows are read (the decisions taken; a shadow's rows are what-ifs). Nothing here writes: a log
whose tables do not exist yet is simply empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    as_utc,
    predictions,
    short_error,
)
from bankrisk.schema import FIELD_NAMES

CHAMPION = "champion"
MAX_HISTORY = 200  # the most recent scores shown for one customer


@dataclass(frozen=True)
class ScoredAt:
    """One logged score of the customer."""

    time: datetime
    model_version: str
    pd: float
    points: float
    grade: str
    decision: str


@dataclass(frozen=True)
class LoggedCustomer:
    """The customer's most recent logged inputs (None where a field was not given)."""

    time: datetime
    values: dict[str, float | None]


def _has_table(store: PredictionStore) -> bool:
    return inspect(store.engine).has_table(predictions.name)


def customer_history(
    store: PredictionStore, customer_id: str, limit: int = MAX_HISTORY
) -> list[ScoredAt]:
    """The customer's champion scores, oldest first (the `limit` most recent); [] when the
    log has none. PredictionLogError when the log cannot be read."""
    key = store.customer_key(customer_id)
    if key is None:
        return []
    c = predictions.c
    query = (
        select(c.time, c.model_version, c.pd, c.score, c.grade, c.decision)
        .where(c.customer_id == key, c.model_role == CHAMPION)
        .order_by(c.time.desc(), c.id.desc())
        .limit(limit)
    )
    try:
        if not _has_table(store):
            return []
        with store.engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from None
    return [
        ScoredAt(as_utc(r.time), r.model_version, r.pd, r.score, r.grade, r.decision)
        for r in reversed(rows)
    ]


def latest_inputs(store: PredictionStore, customer_id: str) -> LoggedCustomer | None:
    """The 23 fields the customer was last scored with by the champion; None when the log
    has no such customer. PredictionLogError when the log cannot be read."""
    key = store.customer_key(customer_id)
    if key is None:
        return None
    c = predictions.c
    query = (
        select(c.time, *(c[name] for name in FIELD_NAMES))
        .where(c.customer_id == key, c.model_role == CHAMPION)
        .order_by(c.time.desc(), c.id.desc())
        .limit(1)
    )
    try:
        if not _has_table(store):
            return None
        with store.engine.connect() as connection:
            row = connection.execute(query).first()
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from None
    if row is None:
        return None
    values = {
        name: None if value is None or math.isnan(value) else float(value)
        for name, value in zip(FIELD_NAMES, row[1:], strict=True)
    }
    return LoggedCustomer(as_utc(row.time), values)
