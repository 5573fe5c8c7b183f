"""Helpers of the scoring-API tests (imported as `serving.support`; tests/ is on the path)."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import FIELD_NAMES, FIELDS_BY_NAME

with warnings.catch_warnings():
    # Starlette nags about the httpx version behind its TestClient; nothing we can act on.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["Api", "TestClient", "batch_reason_codes", "customer", "to_customer", "to_row"]


# The fields of one customer's prediction (a batch entry; single answers add model, request_id).
PREDICTION_KEYS = {
    "customer_id",
    "probability_of_default",
    "score",
    "risk_grade",
    "decision",
    "reason_codes",
    "warnings",
}


def customer(**changes: Any) -> dict[str, Any]:
    """A typical customer, inside every training range: revolving credit, never late, 40%
    utilisation, small payments. `changes` overrides fields."""
    base: dict[str, Any] = {
        "customer_id": "T-0001",
        "LIMIT_BAL": 100_000,
        "SEX": 2,
        "EDUCATION": 2,
        "MARRIAGE": 1,
        "AGE": 35,
        **{f"PAY_{m}": 0 for m in (0, 2, 3, 4, 5, 6)},
        **{f"BILL_AMT{m}": 40_000.0 for m in range(1, 7)},
        **{f"PAY_AMT{m}": 2_000.0 for m in range(1, 7)},
    }
    return {**base, **changes}


def to_customer(row: np.ndarray, customer_id: str | None = None) -> dict[str, Any]:
    """A raw row (FIELD_NAMES order) as the API's JSON object: integers for integer fields."""
    customer: dict[str, Any] = {
        name: int(value) if FIELDS_BY_NAME[name].integer else float(value)
        for name, value in zip(FIELD_NAMES, row, strict=True)
    }
    if customer_id is not None:
        customer["customer_id"] = customer_id
    return customer


def to_row(customer: dict[str, Any]) -> np.ndarray:
    return np.array([[float(customer[name]) for name in FIELD_NAMES]])


@dataclass
class Api:
    """An in-process app, a client on it and the stream its log lines go to."""

    client: TestClient
    log: io.StringIO
    app: Any
    _read: int = field(default=0)

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON line logged so far (each must parse)."""
        return [json.loads(line) for line in self.log.getvalue().splitlines()]

    def new_log_lines(self) -> list[dict[str, Any]]:
        """The lines logged since the last call."""
        lines = self.log_lines()
        fresh, self._read = lines[self._read :], len(lines)
        return fresh

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The /metrics samples: {(sample name, sorted labels): value}."""
        response = self.client.get("/metrics")
        assert response.status_code == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


def batch_reason_codes(
    bundle: ModelBundle, raw: np.ndarray, batch: int = 10_000
) -> list[list[dict[str, Any]]]:
    """Each row's `reason_codes` as the API's batch endpoint answers them (an app in process
    around `bundle`, with the default settings)."""
    from bankrisk.config import Settings
    from bankrisk.core.scorer import Scorer
    from bankrisk.serving.app import create_app
    from bankrisk.serving.observability import JsonLogger

    app = create_app(Settings(), Scorer(bundle), logger=JsonLogger(io.StringIO()))
    answers: list[list[dict[str, Any]]] = []
    with TestClient(app) as client:
        for start in range(0, len(raw), batch):
            records = [to_customer(row) for row in raw[start : start + batch]]
            response = client.post("/v1/predict/batch", json={"records": records})
            assert response.status_code == 200, response.text[:500]
            answers += [p["reason_codes"] for p in response.json()["predictions"]]
    return answers
