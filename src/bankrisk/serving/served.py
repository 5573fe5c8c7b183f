"""The models a request is answered by, as one immutable object.

`ServedModels` holds the champion's scorer, batcher and input-drift counts, and the
challenger when there is one (its canary batcher, or its shadow). A reload builds a new one
and swaps it in with one reference assignment (`Service.models`); a request reads the
reference once, at its start, so it is answered by one consistent set of models and requests
in flight finish on the old ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bankrisk.config import Settings
from bankrisk.core.scorer import ModelRef, Prediction, Scorer
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.serving.batcher import MicroBatcher
from bankrisk.serving.challenger import Shadow, canary_cut, in_canary
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.observability import Metrics

# One answered group of a batch slice: the model, its rows and their predictions.
Answered = tuple[Scorer, np.ndarray, list[Prediction]]


@dataclass(frozen=True)
class ServedModels:
    champion: Scorer
    batcher: MicroBatcher
    drift: InputDrift | None
    challenger: Scorer | None = None
    canary: MicroBatcher | None = None  # canary mode: the challenger's batcher
    cut: int = 0  # canary buckets (of challenger.BUCKETS)
    shadow: Shadow | None = None  # shadow mode

    @property
    def challenger_ref(self) -> ModelRef | None:
        return None if self.challenger is None else self.challenger.model_ref

    def pick(self, customer_id: str | None, request_id: str) -> tuple[Scorer, MicroBatcher]:
        """Who answers this customer: the canary for its sticky share, else the champion."""
        if self.canary is not None and in_canary(customer_id or request_id, self.cut):
            return self.canary.scorer, self.canary
        return self.champion, self.batcher

    def score_slice(
        self, rows: np.ndarray, ids: list[str | None], request_id: str
    ) -> tuple[list[Prediction], list[Answered]]:
        """A batch slice's predictions in order, and who answered which rows. With a canary,
        each prediction names its model (`model`), since one batch may have both."""
        if self.canary is None:
            predictions = self.champion.predict(rows, ids)
            return predictions, [(self.champion, rows, predictions)]
        canary = np.array([in_canary(i or request_id, self.cut) for i in ids], dtype=bool)
        out: list[Prediction | None] = [None] * len(ids)
        groups: list[Answered] = []
        for scorer, mask in ((self.champion, ~canary), (self.canary.scorer, canary)):
            where = np.flatnonzero(mask)
            if where.size == 0:
                continue
            sub_rows = rows[where]
            predictions = scorer.predict(sub_rows, [ids[i] for i in where])
            for i, prediction in zip(where.tolist(), predictions, strict=True):
                prediction["model"] = scorer.model_ref
                out[i] = prediction
            groups.append((scorer, sub_rows, predictions))
        return [p for p in out if p is not None], groups


def build_models(
    champion: Scorer,
    challenger: Scorer | None,
    settings: Settings,
    metrics: Metrics,
    writer: ProcessLogWriter | None,
) -> ServedModels:
    """The served set around loaded scorers (the challenger's role is its mode)."""
    drift = InputDrift.from_metadata(champion.bundle.metadata)
    batcher = MicroBatcher(champion, metrics, drift=drift)
    if challenger is None:
        return ServedModels(champion, batcher, drift)
    if settings.challenger_mode == "canary":
        return ServedModels(
            champion,
            batcher,
            drift,
            challenger,
            canary=MicroBatcher(challenger, metrics, drift=drift),
            cut=canary_cut(settings.canary_percent),
        )
    shadow = Shadow(challenger, metrics, writer, settings.shadow_queue)
    return ServedModels(champion, batcher, drift, challenger, shadow=shadow)
