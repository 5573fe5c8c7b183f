"""Dynamic micro-batching of single-customer requests.

Scoring one row costs almost as much as scoring thirty: the time goes into per-call overhead,
not arithmetic. Requests whose handlers run in the same event-loop turn (under load, every
request read from the sockets that were ready together) are therefore scored as one batch.
Nothing waits for company: the batch is flushed by a `call_soon` callback, which runs right
after the handlers already queued.

Queueing still costs a lone request an event-loop turn, so the batcher adapts: after a batch
of one it scores requests directly (`Scorer.predict_one`, the plain-Python path), and every
`PROBE_EVERY`-th request queues again to see whether others now arrive with it.

Every model call, batched or not, is followed by the model's `AfterScoring` steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from bankrisk.core.after import AfterScoring, Asked, Scored
from bankrisk.core.scorer import Prediction, Rows, Scorer

PROBE_EVERY = 8


class MicroBatcher:
    def __init__(self, scorer: Scorer, after: AfterScoring, max_size: int = 32) -> None:
        self.scorer = scorer
        self.after = after
        self.max_size = max_size
        self._rows: list[list[float]] = []
        self._ids: list[str | None] = []
        self._asked: list[tuple[str, float]] = []
        self._waiting: list[asyncio.Future[Prediction]] = []
        self._batching = True
        self._direct_since_probe = 0

    def score_request(
        self, rows: np.ndarray, ids: list[str | None], request_id: str, start: float
    ) -> tuple[list[Prediction], Scored]:
        """Score one request's rows (a batch slice) now, in one call; the caller runs the
        steps after scoring (`after`) on the `Scored` when it chooses."""
        predictions = self.scorer.predict(rows, ids)
        return predictions, Scored.one_request(
            self.scorer.model_ref, rows, predictions, request_id, start
        )

    def _score(
        self, rows: list[list[float]], ids: list[str | None], asked: list[Asked]
    ) -> list[Prediction]:
        scored: Rows
        if len(rows) == 1:
            predictions = [self.scorer.predict_one(rows[0], ids[0])]
            scored = rows
        else:
            scored = np.array(rows)
            predictions = self.scorer.predict(scored, ids)
        self.after(Scored(self.scorer.model_ref, scored, predictions, asked))
        return predictions

    async def predict(
        self, values: list[float], customer_id: str | None, request_id: str, start: float
    ) -> Prediction:
        """Score one validated row (23 floats), batched with its event-loop neighbours."""
        if not self._batching:
            self._direct_since_probe += 1
            if self._direct_since_probe < PROBE_EVERY:
                asked = [Asked(request_id, 0, 1, start)]
                return self._score([values], [customer_id], asked)[0]
            self._direct_since_probe = 0
            self._batching = True  # a probe: queue this one and whatever comes with it
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._flush)
        self._rows.append(values)
        self._ids.append(customer_id)
        self._asked.append((request_id, start))
        self._waiting.append(future)
        if len(self._waiting) >= self.max_size:
            self._flush()  # a pending call_soon then flushes the next batch, or nothing
        return await future

    def predict_amended(
        self,
        values: list[float],
        customer_id: str | None,
        request_id: str,
        start: float,
        amend: Callable[[Prediction], Prediction],
    ) -> Prediction:
        """Score one validated row now, unbatched, and amend its prediction before the steps
        after scoring see it: the log and the metrics record the answer given (a decision held
        for review, say), not the model's."""
        prediction = amend(self.scorer.predict_one(values, customer_id))
        self.after(
            Scored(self.scorer.model_ref, [values], [prediction], [Asked(request_id, 0, 1, start)])
        )
        return prediction

    def _flush(self) -> None:
        rows, ids, waiting, asked = self._rows, self._ids, self._waiting, self._asked
        self._rows, self._ids, self._waiting, self._asked = [], [], [], []
        if not waiting:
            return
        self._batching = len(waiting) > 1
        try:
            results = self._score(
                rows, ids, [Asked(r, i, i + 1, s) for i, (r, s) in enumerate(asked)]
            )
        except Exception as exc:  # every waiting request gets the error, none hangs
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(result)
