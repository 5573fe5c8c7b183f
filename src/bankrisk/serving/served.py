"""The models a request is answered by, as one immutable object, and what runs after each
of their model calls.

`ServedModels` holds the champion's scorer, batcher and input-drift counts, and the
challenger when there is one (its canary batcher, or its shadow). A reload builds a new one
and swaps it in with one reference assignment (`Service.models`); a request reads the
reference once, at its start, so it is answered by one consistent set of models and requests
in flight finish on the old ones.

After every model call (`bankrisk.core.after`) the service counts the customers in its
metrics, the champion's and canary's inputs in the drift gauge, writes them to the
prediction log, and hands the champion's to the shadow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from bankrisk.config import Settings
from bankrisk.core.after import AfterScoring, Scored, Step
from bankrisk.core.scorer import ModelRef, Prediction, Scorer
from bankrisk.core.validation import InputRules, input_rules
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.prediction_log.rows import ScoredRows
from bankrisk.serving.batcher import MicroBatcher
from bankrisk.serving.challenger import Shadow, canary_cut, in_canary
from bankrisk.serving.drift_gauge import InputDrift
from bankrisk.serving.observability import Metrics


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

    @property
    def input_rules(self) -> InputRules:
        """The fields a request must carry: the inputs of every model that scores it."""
        challenger = None if self.challenger is None else self.challenger.bundle.feature_set
        return input_rules(self.champion.bundle.feature_set, challenger)

    def pick(self, customer_id: str | None, request_id: str) -> MicroBatcher:
        """Who answers this customer: the canary for its sticky share, else the champion."""
        if self.canary is not None and in_canary(customer_id or request_id, self.cut):
            return self.canary
        return self.batcher

    def score_slice(
        self, rows: np.ndarray, ids: list[str | None], request_id: str, start: float
    ) -> tuple[list[Prediction], Callable[[], None]]:
        """A batch slice's predictions in order, and what runs after scoring them (apart, so
        that a batch can give way between the two). With a canary, each prediction names its
        model (`model`), since one batch may have both."""
        if self.canary is None:
            predictions, scored = self.batcher.score_request(rows, ids, request_id, start)
            return predictions, partial(self.batcher.after, scored)
        canary = np.array([in_canary(i or request_id, self.cut) for i in ids], dtype=bool)
        out: list[Prediction | None] = [None] * len(ids)
        done: list[tuple[MicroBatcher, Scored]] = []
        for batcher, mask in ((self.batcher, ~canary), (self.canary, canary)):
            where = np.flatnonzero(mask)
            if where.size == 0:
                continue
            sub_ids = [ids[i] for i in where]
            predictions, scored = batcher.score_request(rows[where], sub_ids, request_id, start)
            for i, prediction in zip(where.tolist(), predictions, strict=True):
                prediction["model"] = batcher.scorer.model_ref
                out[i] = prediction
            done.append((batcher, scored))

        def after() -> None:
            for batcher, scored in done:
                batcher.after(scored)

        return [p for p in out if p is not None], after


def log_step(writer: ProcessLogWriter) -> Step:
    """The step that writes a call's customers to the prediction log, one group a request."""

    def log(scored: Scored) -> None:
        for asked, rows, predictions in scored.per_request():
            writer.submit_group(
                ScoredRows(
                    asked.request_id, scored.model, [(rows, predictions)], asked.latency_ms()
                )
            )

    return log


def build_models(
    champion: Scorer,
    challenger: Scorer | None,
    settings: Settings,
    metrics: Metrics,
    writer: ProcessLogWriter | None,
) -> ServedModels:
    """The served set around loaded scorers (the challenger's role is its mode)."""
    drift = InputDrift.from_metadata(champion.bundle.metadata)
    log = None if writer is None else log_step(writer)

    def answered(*more: Step) -> AfterScoring:
        """After a call that answered customers: metrics, drift, log, then `more`."""
        return AfterScoring(
            metrics.count_scored, None if drift is None else drift.count, log, *more
        )

    if challenger is None:
        return ServedModels(champion, MicroBatcher(champion, answered()), drift)
    if settings.challenger_mode == "canary":
        return ServedModels(
            champion,
            MicroBatcher(champion, answered()),
            drift,
            challenger,
            canary=MicroBatcher(challenger, answered()),
            cut=canary_cut(settings.canary_percent),
        )
    shadow = Shadow(
        challenger, metrics, AfterScoring(metrics.count_scored, log), settings.shadow_queue
    )
    return ServedModels(
        champion,
        MicroBatcher(champion, answered(shadow.submit_scored)),
        drift,
        challenger,
        shadow=shadow,
    )
