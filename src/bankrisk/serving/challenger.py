"""A challenger beside the champion: a sticky canary share, or a shadow off the response path.

Canary: `in_canary(key, cut)` puts a customer in the canary by a stable hash of its id (the
request id when it has none): BLAKE2b, not Python's `hash`, which is salted per process, so
a customer is answered by the same model by every instance and after every restart.

Shadow: `Shadow.submit_scored`, a step after the champion's calls, queues the rows a
request was answered on, in O(1); the challenger scores them later on the event loop,
together (`SHADOW_WAIT_S` after the first of them), at most `SHADOW_SLICE_ROWS` rows per turn
and after the turn's own handlers (so after their answers were sent); its own steps after
scoring write them to the prediction log as role `shadow` and count them in
`bankrisk_predictions_total{role="shadow"}`; never in a response. The queue holds at most
`max_rows` rows: when the shadow falls behind, what does not
fit is dropped and counted (`bankrisk_shadow_dropped_total`), so it never grows memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque

import numpy as np

from bankrisk.core.after import AfterScoring, Asked, Scored
from bankrisk.core.scorer import Prediction, Rows, Scorer
from bankrisk.serving.observability import Metrics

# The canary share is set in hundredths of a percent: 10,000 buckets.
BUCKETS = 10_000
# Rows the shadow scores in one event-loop turn at most (milliseconds of work): others' requests
# are answered between two of its slices.
SHADOW_SLICE_ROWS = 128
# Seconds the shadow collects rows before scoring them: many rows in one call cost far less
# per row than one at a time (docs/performance.md).
SHADOW_WAIT_S = 0.05


def canary_cut(percent: float) -> int:
    """The number of buckets (of BUCKETS) answered by the canary."""
    return round(percent * BUCKETS / 100)


def bucket(key: str) -> int:
    """A stable bucket in [0, BUCKETS) of a customer id (or a request id)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_canary(key: str, cut: int) -> bool:
    return cut > 0 and bucket(key) < cut


class Shadow:
    """The challenger scoring every answered customer after the answer, bounded."""

    def __init__(
        self,
        scorer: Scorer,
        metrics: Metrics,
        after: AfterScoring,
        max_rows: int,
        slice_rows: int = SHADOW_SLICE_ROWS,
        wait_s: float = SHADOW_WAIT_S,
    ) -> None:
        self.scorer = scorer
        self.metrics = metrics
        self.after = after
        self.max_rows = max_rows
        self.slice_rows = slice_rows
        self.wait_s = wait_s
        self._items: deque[tuple[str, Rows, list[str | None]]] = deque()
        self._held = 0
        self._scheduled = False
        self.scored = 0
        self.dropped = 0
        self.last_error: str | None = None

    @property
    def held(self) -> int:
        """Rows waiting to be scored."""
        return self._held

    def submit_scored(self, scored: Scored) -> None:
        """The step after the champion's calls: queue each request's rows."""
        for asked, rows, predictions in scored.per_request():
            self.submit(asked.request_id, rows, [p["customer_id"] for p in predictions])

    def submit(self, request_id: str, rows: Rows, ids: list[str | None]) -> bool:
        """Queue a request's rows (call on the event loop); False when they were dropped."""
        count = len(ids)
        if self._held + count > self.max_rows:
            self._drop(count)
            return False
        self._items.append((request_id, rows, ids))
        self._held += count
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self.wait_s, self._drain)
        return True

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.metrics.shadow_dropped.inc(count)

    def _drain(self) -> None:
        """Score one slice of the queue; come back next turn while rows are left."""
        taken: list[tuple[str, Rows, list[str | None]]] = []
        rows = 0
        while self._items and rows < self.slice_rows:
            item = self._items.popleft()
            taken.append(item)
            rows += len(item[2])
        self._held -= rows
        try:
            self._score(taken, rows)
        except Exception as exc:  # a challenger that fails must not touch the champion
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._drop(rows)
        if self._items:
            asyncio.get_running_loop().call_soon(self._drain)
        else:
            self._scheduled = False

    def _score(self, taken: list[tuple[str, Rows, list[str | None]]], rows: int) -> None:
        if not taken:
            return
        ids = [i for _, _, item_ids in taken for i in item_ids]
        predictions: list[Prediction]
        if rows == 1:
            values = taken[0][1]
            first = values[0].tolist() if isinstance(values, np.ndarray) else list(values[0])
            predictions = [self.scorer.predict_one(first, ids[0])]
            matrix: Rows = [first]
        else:
            matrix = np.vstack(
                [np.asarray(item_rows, dtype=np.float64) for _, item_rows, _ in taken]
            )
            predictions = self.scorer.predict(matrix, ids)
        self.scored += rows
        asked, begin = [], 0
        for request_id, _, item_ids in taken:
            asked.append(Asked(request_id, begin, begin + len(item_ids)))
            begin += len(item_ids)
        self.after(Scored(self.scorer.model_ref, matrix, predictions, asked))
