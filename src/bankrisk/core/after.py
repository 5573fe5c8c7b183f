"""What happens after a model call, written once for every way of scoring.

A model call answers rows for one or more requests (the micro-batcher scores neighbouring
single-customer requests together; a batch request is scored slice by slice). `Scored`
describes one call: the model, the rows, their predictions, and which request asked for which
rows. `AfterScoring` runs its steps on each call in order; the adapter chooses the steps (the
service: metrics, the drift gauge, the prediction log and the shadow challenger), so that
this package knows nothing of Prometheus, databases or HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bankrisk.core.scorer import ModelRef, Prediction, Rows


@dataclass(frozen=True, slots=True)
class Asked:
    """One request's rows in a call (`rows[begin:end]`), and when the request arrived
    (`time.perf_counter()`; None for work done after the answer, e.g. the shadow's)."""

    request_id: str
    begin: int
    end: int
    start: float | None = None

    def latency_ms(self) -> float | None:
        """Milliseconds from the request's arrival to now."""
        return None if self.start is None else (time.perf_counter() - self.start) * 1000


@dataclass(frozen=True, slots=True)
class Scored:
    """One model call: `predictions[i]` answers `rows[i]`; `asked` says for whom."""

    model: ModelRef
    rows: Rows
    predictions: list[Prediction]
    asked: Sequence[Asked]

    @classmethod
    def one_request(
        cls,
        model: ModelRef,
        rows: Rows,
        predictions: list[Prediction],
        request_id: str,
        start: float | None,
    ) -> Scored:
        return cls(model, rows, predictions, (Asked(request_id, 0, len(predictions), start),))

    def per_request(self) -> Iterator[tuple[Asked, Rows, list[Prediction]]]:
        """Each request's share of the call: who asked, its rows and their predictions."""
        rows, predictions = self.rows, self.predictions
        for asked in self.asked:
            if asked.begin == 0 and asked.end == len(predictions):
                yield asked, rows, predictions
            else:
                yield (
                    asked,
                    rows[asked.begin : asked.end],
                    predictions[asked.begin : asked.end],
                )


Step = Callable[[Scored], None]


class AfterScoring:
    """The steps run after every model call, in order (None: a step not configured)."""

    __slots__ = ("steps",)

    def __init__(self, *steps: Step | None) -> None:
        self.steps = tuple(step for step in steps if step is not None)

    def __call__(self, scored: Scored) -> None:
        for step in self.steps:
            step(scored)
