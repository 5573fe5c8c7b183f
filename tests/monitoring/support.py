"""Rows for the monitoring tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bankrisk.schema import FIELD_NAMES


def prediction_row(i: int, *, when: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A plausible logged row (what the service submits)."""
    inputs = {name: float(i % 7) for name in FIELD_NAMES}
    inputs["LIMIT_BAL"] = 10_000.0 * (1 + i % 50)
    inputs["AGE"] = 20.0 + i % 50
    inputs["SEX"] = 1.0 + i % 2
    row: dict[str, Any] = {
        "request_id": f"req-{i}",
        "time": when or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        "model_name": "bank-default-risk",
        "model_version": "3",
        "model_role": "champion",
        "customer_id": str(1000 + i),
        "inputs": inputs,
        "pd": 0.01 + (i % 90) / 100,
        "score": 600.0 - i % 90,
        "grade": "B1",
        "decision": "approve",
        "reason_codes": [{"code": "R01", "text": "late"}],
        "latency_ms": 1.5,
    }
    row.update(extra)
    return row


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

    scores = bundle.score(raw)
    writer = PredictionLogWriter(store, WriterLimits(flush_seconds=0.05))
    for i, values in enumerate(raw.tolist()):
        writer.submit(
            {
                "request_id": f"req-{role}-{i}",
                "time": start + i * step,
                "model_name": bundle.name,
                "model_version": bundle.version,
                "model_role": role,
                "customer_id": ids[i],
                "inputs": dict(zip(FIELD_NAMES, values, strict=True)),
                "pd": float(scores.pd[i]),
                "score": float(scores.points[i]),
                "grade": scores.grades[i],
                "decision": scores.decisions[i],
                "reason_codes": scores.reasons[i],
                "latency_ms": 2.0,
            }
        )
    assert writer.close(60), writer.last_error
    assert writer.dropped == 0
    return writer.written
