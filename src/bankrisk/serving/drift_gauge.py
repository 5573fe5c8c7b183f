"""The service's side of monitoring: the prediction log and the live input-drift gauge.

Every scored customer goes to the prediction log (`bankrisk.prediction_log.store`)
through a `ProcessLogWriter` (`bankrisk.prediction_log.process_writer`): the request path hands it
one small object per request (`ScoredRows`, a whole batch request's customers at once), which
it serialises and sends to a writer process in small batches; that process expands them into
one row per customer and inserts them (`bankrisk.prediction_log.rows`: the rows' format and
`ServiceStore`). The API process never waits for the store, and no writer thread competes
with the event loop for the GIL. The log is not a readiness dependency: when the store is
slow or down the API keeps answering, what does not fit in the bounded buffer is dropped and
counted (`bankrisk_prediction_log_dropped_total`), and writing resumes by itself.

`InputDrift` keeps `StreamingPSI` counts of the inputs against the bundle's frozen training
bins (`reference_distributions`), one bisection per field for a single customer and numpy
`searchsorted` + `bincount` per field for many; `MonitoringCollector` computes the PSI at
scrape time for `/metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bankrisk.config import Settings
from bankrisk.monitoring.psi import StreamingPSI
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.prediction_log.rows import DECODER, OPENER, ScoredRows, ServiceStore
from bankrisk.prediction_log.store import PredictionStore, open_store
from bankrisk.prediction_log.thread_writer import WriterLimits

__all__ = ["CHAMPION", "InputDrift", "MonitoringCollector", "Rows", "ScoredRows", "ServiceStore"]

CHAMPION = "champion"

# Rows: one customer's 23 validated inputs (FIELD_NAMES order) per row, as a numpy array or
# as lists of floats.
Rows = np.ndarray | Sequence[Sequence[float]]


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
) -> ProcessLogWriter:
    """The service's writer: a child process writes `store`'s log (opened there again as a
    `ServiceStore`), fed with `ScoredRows`."""
    return ProcessLogWriter(
        store,
        opener=OPENER,
        decoder=DECODER,
        limits=WriterLimits(
            max_rows=settings.prediction_log_queue,
            batch_size=settings.prediction_log_batch,
            flush_seconds=settings.prediction_log_flush_seconds,
        ),
        on_drop=on_drop,
    )


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

    def __init__(
        self,
        drift: InputDrift | Callable[[], InputDrift | None] | None,
        writer: ProcessLogWriter | None,
    ) -> None:
        # A getter follows the drift counts of the champion served now (reloads replace it).
        self._drift = drift if callable(drift) else lambda: drift
        self.writer = writer

    @property
    def drift(self) -> InputDrift | None:
        return self._drift()

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        drift = self.drift
        if drift is not None:
            psi = GaugeMetricFamily(
                "bankrisk_feature_psi",
                "PSI of each input field over the recent window against its training bins "
                "(NaN while the window is empty)",
                labels=["feature"],
            )
            for feature, value in drift.psi.psi().items():
                psi.add_metric([feature], value)
            yield psi
            yield GaugeMetricFamily(
                "bankrisk_feature_psi_window_rows",
                "Scored customers in the PSI window",
                value=drift.psi.n,
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
