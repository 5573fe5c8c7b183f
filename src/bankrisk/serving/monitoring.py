"""The service's side of monitoring: the prediction log and the live input-drift gauge.

Every scored customer goes to the prediction log (`bankrisk.monitoring.prediction_log`)
through a `PredictionLogWriter`: a bounded buffer drained by a background thread, so that
the request path only appends one small object per request (`ScoredRows`, a whole batch
request's customers at once) and never waits for the store. The writer thread expands it
into one row per customer. The log is not a readiness dependency: when the store is slow or
down the API keeps answering, the writer drops what does not fit in its buffer and counts it
(`bankrisk_prediction_log_dropped_total`), and writing resumes by itself.

The writer thread shares the GIL with the event loop, so its work per row is kept small:
`ServiceStore` builds each database row directly from the validated values (orjson for the
reason codes) and, on SQLite, inserts many rows per statement (`INSERT ... VALUES (...),
(...)`, the statement SQLAlchemy compiled, repeated) through the driver, skipping SQLAlchemy's
per-row parameter handling. One statement per few hundred rows matters more than the CPU
saved: `executemany` releases and retakes the GIL for every row, and each hand-over to and
from the event loop's thread costs the scoring path far more than the insert itself
(PostgreSQL keeps SQLAlchemy's own multi-row inserts). It writes the same
rows as `PredictionStore` (tests/serving/test_prediction_log_service.py checks).

`InputDrift` keeps `StreamingPSI` counts of the inputs against the bundle's frozen training
bins (`reference_distributions`), one bisection per field for a single customer and numpy
`searchsorted` + `bincount` per field for many; `MonitoringCollector` computes the PSI at
scrape time for `/metrics`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bankrisk.config import Settings
from bankrisk.monitoring.log_writer import PredictionLogWriter
from bankrisk.monitoring.prediction_log import PredictionStore, open_store, predictions
from bankrisk.monitoring.psi import StreamingPSI
from bankrisk.schema import FIELD_NAMES
from bankrisk.serving.scorer import ModelRef, Prediction

CHAMPION = "champion"
# SQLite's limit on the variables of one statement (999 before 3.32).
_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999

# Rows: one customer's 23 validated inputs (FIELD_NAMES order) per row, as a numpy array or
# as lists of floats.
Rows = np.ndarray | Sequence[Sequence[float]]


class ServiceStore(PredictionStore):
    """The prediction log as the service writes it: the same rows, built and inserted with
    less work per row (rows from `ScoredRows`: validated, finite inputs)."""

    def __init__(self, store: PredictionStore) -> None:
        super().__init__(store.engine, store.url, store.salt)
        dialect = self.engine.dialect
        self._fast = dialect.name == "sqlite"
        self._names = [c.name for c in predictions.columns if c.name != "id"]
        sql = str(predictions.insert().compile(dialect=dialect, column_keys=self._names))
        head, _, group = sql.partition(" VALUES ")
        self._head, self._group = f"{head} VALUES ", group.strip()
        self._rows_per_statement = max(1, min(400, _SQLITE_VARIABLES // len(self._names)))
        self._statements: dict[int, str] = {}
        self._processors = [
            (i, processor)
            for i, name in enumerate(self._names)
            if (processor := predictions.c[name].type.bind_processor(dialect)) is not None
        ]

    def to_record(self, row: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        if not isinstance(row.get("time"), datetime) or not isinstance(row.get("inputs"), dict):
            return super().to_record(row, now)
        customer_id = row["customer_id"]
        record: dict[str, Any] = {
            "request_id": row["request_id"],
            "time": row["time"],
            "model_name": row["model_name"],
            "model_version": row["model_version"],
            "model_role": row["model_role"],
            "customer_id": None if customer_id is None else self.customer_key(customer_id),
            "pd": float(row["pd"]),
            "score": float(row["score"]),
            "grade": row["grade"],
            "decision": row["decision"],
            "reason_codes": orjson.dumps(row["reason_codes"]).decode(),
            "latency_ms": row["latency_ms"],
        }
        record.update(row["inputs"])
        return record

    def insert_records(self, records: Sequence[dict[str, Any]]) -> int:
        if not self._fast or not records:
            return super().insert_records(records)
        names, processors = self._names, self._processors
        step = self._rows_per_statement
        with self.engine.begin() as connection:
            for begin in range(0, len(records), step):
                chunk = records[begin : begin + step]
                params: list[Any] = []
                for record in chunk:
                    values = [record[name] for name in names]
                    for i, processor in processors:
                        values[i] = processor(values[i])
                    params.extend(values)
                connection.exec_driver_sql(self._statement(len(chunk)), tuple(params))
        return len(records)

    def _statement(self, rows: int) -> str:
        found = self._statements.get(rows)
        if found is None:
            found = self._statements[rows] = self._head + ",".join([self._group] * rows)
        return found


def open_prediction_log(settings: Settings) -> PredictionStore | None:
    """The store named by BANKRISK_PREDICTION_LOG (None when `off`), without connecting:
    a store that is down must not stop the service (its tables are created by the writer
    on its first insert). PredictionLogError when the URL is malformed or its driver is
    missing: that is bad configuration."""
    salt = settings.prediction_log_salt.get_secret_value()
    store = open_store(
        settings.prediction_log,
        pseudonymise=settings.prediction_log_pseudonymise,
        salt=salt or None,
        create=False,
    )
    return None if store is None else ServiceStore(store)


def make_writer(
    store: PredictionStore, settings: Settings, on_drop: Any = None
) -> PredictionLogWriter:
    return PredictionLogWriter(
        store,
        max_rows=settings.prediction_log_queue,
        batch_size=settings.prediction_log_batch,
        flush_seconds=settings.prediction_log_flush_seconds,
        on_drop=on_drop,
    )


class ScoredRows:
    """The customers of one request, as submitted to the log writer: built in O(1) on the
    request path, expanded into `PredictionRow`s on the writer thread."""

    __slots__ = ("count", "latency_ms", "model", "request_id", "slices", "when")

    def __init__(
        self,
        request_id: str,
        model: ModelRef,
        slices: list[tuple[Rows, list[Prediction]]],
        latency_ms: float | None,
    ) -> None:
        self.request_id = request_id
        self.when = time.time()
        self.model = model
        self.slices = slices
        self.latency_ms = latency_ms
        self.count = sum(len(predictions) for _, predictions in slices)

    def __len__(self) -> int:
        return self.count

    def expand(self) -> list[Mapping[str, Any]]:
        when = datetime.fromtimestamp(self.when, UTC)
        name, version = self.model["name"], self.model["version"]
        out: list[Mapping[str, Any]] = []
        for rows, answers in self.slices:
            values = rows.tolist() if isinstance(rows, np.ndarray) else rows
            for raw, p in zip(values, answers, strict=True):
                out.append(
                    {
                        "request_id": self.request_id,
                        "time": when,
                        "model_name": name,
                        "model_version": version,
                        "model_role": CHAMPION,
                        "customer_id": p["customer_id"],
                        "inputs": dict(zip(FIELD_NAMES, raw, strict=True)),
                        "pd": p["probability_of_default"],
                        "score": p["score"],
                        "grade": p["risk_grade"],
                        "decision": p["decision"],
                        "reason_codes": p["reason_codes"],
                        "latency_ms": self.latency_ms,
                    }
                )
        return out


class InputDrift:
    """`StreamingPSI` of the raw inputs, updated per scored customer (vectorised for many)."""

    def __init__(self, psi: StreamingPSI) -> None:
        self.psi = psi
        self._positions = psi.positions
        self._edges = [np.asarray(edges, dtype=np.float64) for edges in psi.inner_edges]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> InputDrift | None:
        """From the bundle's `reference_distributions`; None when it has none (an older
        bundle) or they are malformed (then there is no gauge, and scoring goes on)."""
        reference = metadata.get("reference_distributions")
        if not isinstance(reference, Mapping):
            return None
        try:
            psi = StreamingPSI(reference)
        except ValueError:
            return None
        return cls(psi) if psi.fields else None

    def update_one(self, values: Sequence[float]) -> None:
        self.psi.update(values)

    def update(self, rows: np.ndarray) -> None:
        """Count a (n, 23) matrix of inputs."""
        n = rows.shape[0]
        if n == 1:
            self.psi.update(rows[0].tolist())
            return
        counts = [
            np.bincount(
                np.searchsorted(edges, rows[:, position], side="right"),
                minlength=len(edges) + 1,
            ).tolist()
            for position, edges in zip(self._positions, self._edges, strict=True)
        ]
        self.psi.add_counts(counts, n)


class MonitoringCollector(Collector):
    """Scrape-time metrics: PSI per input field over the window, and the log writer's state."""

    def __init__(self, drift: InputDrift | None, writer: PredictionLogWriter | None) -> None:
        self.drift = drift
        self.writer = writer

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        if self.drift is not None:
            psi = GaugeMetricFamily(
                "bankrisk_feature_psi",
                "PSI of each input field over the recent window against its training bins "
                "(NaN while the window is empty)",
                labels=["feature"],
            )
            for feature, value in self.drift.psi.psi().items():
                psi.add_metric([feature], value)
            yield psi
            yield GaugeMetricFamily(
                "bankrisk_feature_psi_window_rows",
                "Scored customers in the PSI window",
                value=self.drift.psi.n,
            )
        if self.writer is not None:
            yield CounterMetricFamily(
                "bankrisk_prediction_log_written",
                "Rows written to the prediction log",
                value=self.writer.written,
            )
            yield GaugeMetricFamily(
                "bankrisk_prediction_log_queued_rows",
                "Rows waiting in memory for the prediction log",
                value=self.writer.held,
            )
