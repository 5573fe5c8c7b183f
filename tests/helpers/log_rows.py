"""Rows for the monitoring tests: built as the service builds them, in the log's one row
format (`Row`: the `predictions` columns' values in `COLUMNS` order)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bankrisk.prediction_log.store import COLUMNS, Row
from bankrisk.schema import FIELD_NAMES


def row_of(values: Mapping[str, Any]) -> Row:
    """The `Row` of values by column name (`reason_codes` as the API gives them: stored as
    JSON text)."""
    text = json.dumps(values["reason_codes"], separators=(",", ":"))
    return tuple(text if name == "reason_codes" else values[name] for name in COLUMNS)


def prediction_values(i: int, *, when: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A plausible logged customer's values by column (what the service submits; reason
    codes as the API's list)."""
    values: dict[str, Any] = {name: float(i % 7) for name in FIELD_NAMES}
    values["LIMIT_BAL"] = 10_000.0 * (1 + i % 50)
    values["AGE"] = 20.0 + i % 50
    values["SEX"] = 1.0 + i % 2
    values.update(
        {
            "request_id": f"req-{i}",
            "time": when or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
            "model_name": "bank-default-risk",
            "model_version": "3",
            "model_role": "champion",
            "customer_id": str(1000 + i),
            "pd": 0.01 + (i % 90) / 100,
            "score": 600.0 - i % 90,
            "grade": "B1",
            "decision": "approve",
            "reason_codes": [{"code": "R01", "text": "late"}],
            "latency_ms": 1.5,
        }
    )
    values.update(extra)
    return values


def prediction_row(i: int, *, when: datetime | None = None, **extra: Any) -> Row:
    """A plausible logged row (`prediction_values` as a `Row`)."""
    return row_of(prediction_values(i, when=when, **extra))


def scored_rows(
    bundle: Any,
    raw: Any,
    ids: list[str],
    start: datetime,
    step: timedelta = timedelta(hours=1),
    role: str = "champion",
) -> list[Row]:
    """Raw rows scored with the bundle, as the service logs them."""
    scores = bundle.score(raw)
    return [
        row_of(
            {
                "request_id": f"req-{role}-{i}",
                "time": start + i * step,
                "model_name": bundle.name,
                "model_version": bundle.version,
                "model_role": role,
                "customer_id": ids[i],
                **dict(zip(FIELD_NAMES, values, strict=True)),
                "pd": float(scores.pd[i]),
                "score": float(scores.points[i]),
                "grade": scores.grades[i],
                "decision": scores.decisions[i],
                "reason_codes": scores.reasons[i],
                "latency_ms": 2.0,
            }
        )
        for i, values in enumerate(raw.tolist())
    ]


def log_scored(
    store: Any,
    bundle: Any,
    raw: Any,
    ids: list[str],
    start: datetime,
    step: timedelta = timedelta(hours=1),
    role: str = "champion",
) -> int:
    """Score raw rows with the bundle and write them through a PredictionLogWriter, as the
    service will; returns the rows written."""
    from bankrisk.prediction_log.thread_writer import PredictionLogWriter, WriterLimits

    writer = PredictionLogWriter(store, WriterLimits(flush_seconds=0.05))
    for row in scored_rows(bundle, raw, ids, start, step, role):
        writer.submit(row)
    assert writer.close(60), writer.last_error
    assert writer.dropped == 0
    return writer.written
