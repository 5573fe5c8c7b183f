"""A portfolio run recorded for monitoring, so that monitoring watches it as it watches the
API's traffic: in the prediction log (`bankrisk score --log URL`), or, for a Spark run, in a
run record (`bankrisk score --engine spark --record FOLDER`: Parquet in the log's row layout,
monitored on Spark by `monitoring.spark_monitor`).

Each scored customer becomes a log row like the service's: the run's id as the request id,
its as-of date as the time, the model, the role `portfolio`, the customer's id and inputs, the
PD, score, grade and decision, and the reason codes (the API's reason objects, texts too).
Drift, outcomes, the back-test and fairness then work on it with
`--role portfolio --run RUN_ID`. The rows of a run are inserted in one transaction, after the
scores they record: a run that fails records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from bankrisk.bundle.model_bundle import MAX_REASONS
from bankrisk.features.reasons import REASON_CODES
from bankrisk.prediction_log.runs import ROLE, RunHead, inserting_run
from bankrisk.prediction_log.store import (
    PredictionStore,
    Row,
    normalise_customer_id,
    pseudonym,
)
from bankrisk.schema import FIELD_NAMES

# The log's columns taken from a scored chunk's output columns.
FROM_OUTPUT = {
    "pd": "probability_of_default",
    "score": "score",
    "grade": "risk_grade",
    "decision": "decision",
}
# The columns a Spark run's staging holds for its record besides the output's: the customer's
# id as the log stores it, the inputs as numbers (FIELD_NAMES) and the reason codes' JSON.
RECORD_CUSTOMER = "record_customer_id"
REASONS = "reason_codes"


@dataclass(frozen=True)
class Run:
    """A portfolio run as the log records it."""

    run_id: str
    as_of: datetime
    model_name: str
    model_version: str


def new_run(run_id: str | None, as_of: datetime | None, input_path: Path, model_dir: Path) -> Run:
    """The run to record: its id and as-of date (defaults: INPUT_STEM-UTC_TIME and now) and
    the bundle's name and version (from `model_dir`, a folder on this machine)."""
    from bankrisk.bundle.store import read_metadata

    name = run_id or f"{input_path.stem}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    metadata = read_metadata(model_dir)
    return Run(
        name, as_of or datetime.now(UTC), str(metadata.get("name")), str(metadata.get("version"))
    )


# Each reason code's group, which the output implies by the code and the log's JSON names.
_GROUPS = {r.code: r.group for r in REASON_CODES}
_REASON_KEYS = ("code", "group", "feature", "attribute", "value", "text", "contribution")


def _reasons(table: pa.Table) -> list[str]:
    """Each row's reason codes as the log stores them: JSON text of the API's reason objects
    (`features.reasons.Reason`: code, group, feature, attribute, value, text, contribution),
    as the service's log rows carry them, so a notice can be made from a recorded run."""
    slots = []
    for k in range(1, MAX_REASONS + 1):
        codes = table.column(f"reason_{k}_code").to_pylist()
        parts = [
            [_GROUPS.get(c) for c in codes] if key == "group" else codes if key == "code"
            else table.column(f"reason_{k}_{key}").to_pylist()
            for key in _REASON_KEYS
        ]  # fmt: skip
        slots.append((codes, parts))
    texts = []
    for i in range(table.num_rows):
        reasons = [
            dict(zip(_REASON_KEYS, (part[i] for part in parts), strict=True))
            for codes, parts in slots
            if codes[i] is not None
        ]
        texts.append(json.dumps(reasons, separators=(",", ":")))
    return texts


def log_rows(run: Run, raw: np.ndarray, table: pa.Table, id_column: str | None) -> list[Row]:
    """The log's rows of a scored chunk: `raw` (valid rows, FIELD_NAMES order) and the
    output `table` of the same rows."""
    n = table.num_rows
    ids = table.column(id_column).to_pylist() if id_column else [None] * n
    head = (run.run_id, run.as_of, run.model_name, run.model_version, ROLE)
    pd, score, grade, decision = (table.column(c).to_pylist() for c in FROM_OUTPUT.values())
    return [
        (*head, customer, *inputs, p, float(s), g, d, reasons, None)
        for customer, inputs, p, s, g, d, reasons in zip(
            ids, raw.tolist(), pd, score, grade, decision, _reasons(table), strict=True
        )
    ]


Recorder = Callable[[np.ndarray, pa.Table, str | None], None]


def recorder(run: Run, insert: Callable[[Sequence[Row]], int]) -> Recorder:
    """What `score_file` calls with each scored chunk: its rows inserted with `insert`."""

    def record(raw: np.ndarray, table: pa.Table, id_column: str | None) -> None:
        insert(log_rows(run, raw, table, id_column))

    return record


@contextmanager
def recording(store: PredictionStore, run: Run) -> Iterator[Recorder]:
    """The recorder of `run` in the log: its rows and its row in `portfolio_runs` (what
    lists the runs: prediction_log/runs.py) inserted in one transaction, kept only if the
    block ends normally."""
    head = RunHead(run.run_id, run.as_of, run.model_name, run.model_version)
    with inserting_run(store, head) as insert:
        yield recorder(run, insert)


def record_fields() -> list[pa.Field]:
    """The staging's record columns (`record_columns`)."""
    numbers = [pa.field(name, pa.float64()) for name in FIELD_NAMES]
    return [pa.field(RECORD_CUSTOMER, pa.string()), *numbers, pa.field(REASONS, pa.string())]


def _customer_key(value: object, salt: str | None) -> str | None:
    """A customer id as the log stores it (`PredictionStore.customer_key`): as text, or its
    pseudonym under `salt`."""
    text = normalise_customer_id(value)
    return text if text is None or salt is None else pseudonym(text, salt)


def record_columns(
    raw: np.ndarray, table: pa.Table, id_column: str | None, salt: str | None
) -> list[pa.Array]:
    """The record columns of a scored chunk (`record_fields`), valued as `log_rows` and the
    log's insert value them: what a Spark run record holds besides the output's columns."""
    n = table.num_rows
    ids = table.column(id_column).to_pylist() if id_column else [None] * n
    customers = pa.array([_customer_key(v, salt) for v in ids], pa.string())
    numbers = [pa.array(raw[:, j], pa.float64()) for j in range(len(FIELD_NAMES))]
    return [customers, *numbers, pa.array(_reasons(table), pa.string())]
