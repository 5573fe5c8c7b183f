"""Dynamic micro-batching of single-customer requests.

Scoring one row costs almost as much as scoring thirty: the time goes into per-call overhead,
not arithmetic. Requests whose handlers run in the same event-loop turn (under load, every
request read from the sockets that were ready together) are therefore scored as one batch.
Nothing waits for company: the batch is flushed by a `call_soon` callback, which runs right
after the handlers already queued.

Queueing still costs a lone request an event-loop turn, so the batcher adapts: after a batch
of one it scores requests directly (`Scorer.predict_one`, the plain-Python path), and every
`PROBE_EVERY`-th request queues again to see whether others now arrive with it.
"""

from __future__ import annotations

import asyncio

import numpy as np

from bankrisk.core.scorer import Prediction, Scorer
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.observability import Metrics

PROBE_EVERY = 8


class MicroBatcher:
    def __init__(
        self,
        scorer: Scorer,
        metrics: Metrics,
        max_size: int = 32,
        drift: InputDrift | None = None,
    ) -> None:
        self.scorer = scorer
        self.metrics = metrics
        self.drift = drift
        self.max_size = max_size
        self._rows: list[list[float]] = []
        self._ids: list[str | None] = []
        self._waiting: list[asyncio.Future[Prediction]] = []
        self._batching = True
        self._direct_since_probe = 0

    def _score(self, rows: list[list[float]], ids: list[str | None]) -> list[Prediction]:
        if len(rows) == 1:
            predictions = [self.scorer.predict_one(rows[0], ids[0])]
            if self.drift is not None:
                self.drift.update_one(rows[0])
        else:
            matrix = np.array(rows)
            predictions = self.scorer.predict(matrix, ids)
            if self.drift is not None:
                self.drift.update(matrix)
        self.metrics.record_predictions(predictions, self.scorer.model_ref)
        return predictions

    async def predict(self, values: list[float], customer_id: str | None) -> Prediction:
        """Score one validated row (23 floats), batched with its event-loop neighbours."""
        if not self._batching:
            self._direct_since_probe += 1
            if self._direct_since_probe < PROBE_EVERY:
                return self._score([values], [customer_id])[0]
            self._direct_since_probe = 0
            self._batching = True  # a probe: queue this one and whatever comes with it
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._flush)
        self._rows.append(values)
        self._ids.append(customer_id)
        self._waiting.append(future)
        if len(self._waiting) >= self.max_size:
            self._flush()  # a pending call_soon then flushes the next batch, or nothing
        return await future

    def _flush(self) -> None:
        rows, ids, waiting = self._rows, self._ids, self._waiting
        self._rows, self._ids, self._waiting = [], [], []
        if not waiting:
            return
        self._batching = len(waiting) > 1
        try:
            results = self._score(rows, ids)
        except Exception as exc:  # every waiting request gets the error, none hangs
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(result)
