"""Micro-batching: concurrent single-customer requests are scored together, correctly."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.core.after import AfterScoring
from bankrisk.core.scorer import Scorer
from bankrisk.serving.app import create_app
from bankrisk.serving.batcher import PROBE_EVERY, MicroBatcher
from bankrisk.serving.observability import JsonLogger, Metrics
from helpers.api import to_customer
from helpers.factories import make_raw


class CountingScorer(Scorer):
    """Records the size of every scoring call (1 for the one-customer path)."""

    def __init__(self, bundle: ModelBundle, fail: bool = False) -> None:
        super().__init__(bundle)
        self.calls: list[int] = []
        self.fail = fail

    def predict(self, rows: np.ndarray, customer_ids: Sequence[str | None]) -> Any:
        self.calls.append(rows.shape[0])
        if self.fail:
            raise RuntimeError("scoring failed")
        return super().predict(rows, customer_ids)

    def predict_one(self, values: list[float], customer_id: str | None) -> Any:
        self.calls.append(1)
        if self.fail:
            raise RuntimeError("scoring failed")
        return super().predict_one(values, customer_id)


def test_concurrent_requests_get_their_own_answers(bundle: ModelBundle) -> None:
    raw, _ = make_raw(40, seed=11)
    scorer = CountingScorer(bundle)
    app = create_app(Settings(), scorer, logger=JsonLogger(io.StringIO()))

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/predict", json=to_customer(row, f"C{i}"))
                    for i, row in enumerate(raw)
                )
            )

    responses = asyncio.run(post_all())
    expected = bundle.predict_pd(raw)
    for i, response in enumerate(responses):
        body = response.json()
        assert response.status_code == 200 and body["customer_id"] == f"C{i}"
        assert body["probability_of_default"] == pytest.approx(expected[i], abs=1e-12)
    assert sum(scorer.calls) == 40
    assert max(scorer.calls) > 1  # some were scored together


def _row(i: int) -> list[float]:
    values: list[float] = make_raw(PROBE_EVERY * 3, seed=5)[0][i].tolist()
    return values


def test_batches_form_then_lone_requests_go_direct_with_periodic_probes(
    bundle: ModelBundle,
) -> None:
    scorer = CountingScorer(bundle)
    batcher = MicroBatcher(scorer, AfterScoring(Metrics().count_scored))

    async def scenario() -> None:
        await asyncio.gather(*(batcher.predict(_row(i), None, "r", 0.0) for i in range(5)))
        assert scorer.calls == [5]
        await batcher.predict(_row(5), None, "r", 0.0)  # alone: a batch of one...
        assert scorer.calls[-1] == 1
        for i in range(PROBE_EVERY * 2):  # ...so later lone requests are scored directly
            await batcher.predict(_row(i), None, "r", 0.0)
        assert len(scorer.calls) == 1 + 1 + PROBE_EVERY * 2
        # A probe queues again: concurrent requests arriving with it are batched.
        for _ in range(PROBE_EVERY - 1):
            await batcher.predict(_row(0), None, "r", 0.0)
        await asyncio.gather(*(batcher.predict(_row(i), None, "r", 0.0) for i in range(4)))
        assert scorer.calls[-1] > 1

    asyncio.run(scenario())


def test_a_failed_batch_fails_every_waiting_request(bundle: ModelBundle) -> None:
    batcher = MicroBatcher(CountingScorer(bundle, fail=True), AfterScoring(Metrics().count_scored))

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            *(batcher.predict(_row(i), None, "r", 0.0) for i in range(3)), return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert all(isinstance(r, RuntimeError) for r in results)
