"""A portfolio run recorded in the prediction log, so that monitoring watches it as it
watches the API's traffic (`bankrisk score --log URL`).

Each scored customer becomes a log row like the service's: the run's id as the request id,
its as-of date as the time, the model, the role `portfolio`, the customer's id and inputs, the
PD, score, grade and decision, and the reason codes (codes and features: a portfolio file has
no reason texts). Drift, outcomes, the back-test and fairness then work on it with
`--role portfolio --run RUN_ID`. The rows of a run are inserted in one transaction, after the
scores they record: a run that fails records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from bankrisk.bundle.model_bundle import MAX_REASONS
from bankrisk.prediction_log.store import Row

ROLE = "portfolio"


@dataclass(frozen=True)
class Run:
    """A portfolio run as the log records it."""

    run_id: str
    as_of: datetime
    model_name: str
    model_version: str


def _reasons(table: pa.Table) -> list[str]:
    """Each row's reason codes as the log stores them (JSON text)."""
    parts = [
        (
            table.column(f"reason_{k}_code").to_pylist(),
            table.column(f"reason_{k}_feature").to_pylist(),
        )
        for k in range(1, MAX_REASONS + 1)
    ]
    texts = []
    for i in range(table.num_rows):
        reasons = [{"code": c[i], "feature": f[i]} for c, f in parts if c[i] is not None]
        texts.append(json.dumps(reasons, separators=(",", ":")))
    return texts


def log_rows(run: Run, raw: np.ndarray, table: pa.Table, id_column: str | None) -> list[Row]:
    """The log's rows of a scored chunk: `raw` (valid rows, FIELD_NAMES order) and the
    output `table` of the same rows."""
    n = table.num_rows
    ids = table.column(id_column).to_pylist() if id_column else [None] * n
    head = (run.run_id, run.as_of, run.model_name, run.model_version, ROLE)
    return [
        (*head, customer, *inputs, pd, float(score), grade, decision, reasons, None)
        for customer, inputs, pd, score, grade, decision, reasons in zip(
            ids,
            raw.tolist(),
            table.column("probability_of_default").to_pylist(),
            table.column("score").to_pylist(),
            table.column("risk_grade").to_pylist(),
            table.column("decision").to_pylist(),
            _reasons(table),
            strict=True,
        )
    ]


Recorder = Callable[[np.ndarray, pa.Table, str | None], None]


def recorder(run: Run, insert: Callable[[Sequence[Row]], int]) -> Recorder:
    """What `score_file` calls with each scored chunk: its rows inserted with `insert`."""

    def record(raw: np.ndarray, table: pa.Table, id_column: str | None) -> None:
        insert(log_rows(run, raw, table, id_column))

    return record
