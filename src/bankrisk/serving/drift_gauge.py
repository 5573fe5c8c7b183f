"""The service's side of monitoring: the live input-drift gauge, and the prediction log
writer's counts on /metrics.

The prediction log itself is `bankrisk.prediction_log` (the service opens its writer with
`bankrisk.prediction_log.opening.open_writer`): the request path hands the writer one
`ScoredRows` per request, a writer process inserts the rows; the log is not a readiness
dependency, and what does not fit in its bounded buffer is dropped and counted
(`bankrisk_prediction_log_dropped_total`).

`InputDrift` keeps `StreamingPSI` counts of the inputs against the bundle's frozen training
bins (`reference_distributions`), one bisection per field for a single customer and numpy
`searchsorted` + `bincount` per field for many; `MonitoringCollector` computes the PSI at
scrape time for `/metrics`, and reports the log writer's written and queued rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bankrisk.core.after import Scored
from bankrisk.monitoring.psi import StreamingPSI
from bankrisk.prediction_log.process_writer import ProcessLogWriter

__all__ = ["CHAMPION", "InputDrift", "MonitoringCollector"]

CHAMPION = "champion"


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

    def count(self, scored: Scored) -> None:
        """The step after a model call: count its inputs."""
        rows = scored.rows
        if isinstance(rows, np.ndarray):
            self.update(rows)
        elif len(rows) == 1:
            self.psi.update(rows[0])
        else:
            self.update(np.asarray(rows, dtype=np.float64))

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
            yield CounterMetricFamily(
                "bankrisk_prediction_log_writer_restarts",
                "Times the prediction log's writer process died and was replaced",
                value=self.writer.restarts,
            )
            yield GaugeMetricFamily(
                "bankrisk_prediction_log_spool_bytes",
                "Bytes of rows waiting in the log writer's spool on disk for the store",
                value=self.writer.spool_bytes,
            )
            yield GaugeMetricFamily(
                "bankrisk_prediction_log_spool_age_seconds",
                "Seconds the oldest rows in the spool have waited for the store (0: empty)",
                value=self.writer.spool_age_seconds,
            )
            yield GaugeMetricFamily(
                "bankrisk_prediction_log_recording",
                "1 while scored customers are being recorded; 0 while the writer process is "
                "down, the store failing or the writer full",
                value=0 if self.writer.recording else 1,
            )
