"""Batch slices give way to interactive requests in flight, but are never starved."""

from __future__ import annotations

import asyncio

from bankrisk.serving import priority
from bankrisk.serving.priority import Priority


def test_a_batch_goes_on_at_once_when_nothing_else_is_in_flight() -> None:
    async def scenario() -> None:
        gate = Priority()
        await asyncio.wait_for(gate.give_way(), 1)

    asyncio.run(scenario())


def test_a_batch_waits_for_the_request_in_flight_to_finish() -> None:
    order: list[str] = []

    async def single(gate: Priority) -> None:
        gate.enter()
        await asyncio.sleep(0.005)  # e.g. waiting for the micro-batcher
        order.append("single answered")
        gate.leave()

    async def batch(gate: Priority) -> None:
        await gate.give_way()
        order.append("next slice")

    async def scenario() -> None:
        gate = Priority()
        await asyncio.gather(single(gate), batch(gate))

    asyncio.run(scenario())
    assert order == ["single answered", "next slice"]


def test_a_steady_stream_of_requests_slows_a_batch_but_never_starves_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(priority, "MAX_WAIT_S", 0.01)

    async def scenario() -> int:
        gate = Priority()
        gate.enter()  # never leaves
        for _ in range(3):
            await asyncio.wait_for(gate.give_way(), 1)
        return len(gate._waiting)

    assert asyncio.run(scenario()) == 0  # and nothing is left waiting
