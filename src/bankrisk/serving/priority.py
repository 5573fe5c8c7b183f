"""Single customers before batch slices.

A large batch is worked through in slices, handing the event loop back between two. A plain
`asyncio.sleep(0)` is not enough for the single customers waiting: a request that arrives
during a slice needs several event-loop turns (its bytes are read, its task starts, it may
wait for the micro-batcher), and in each of them the batch, being ready too, would run another
slice first. So a batch gives way (`give_way`): it lets the loop turn a few times, so that
requests that have arrived start, then waits while any interactive request is in flight,
for at most `MAX_WAIT_S` at a time, so that a steady stream of single customers slows a batch
down but never starves it.
"""

from __future__ import annotations

import asyncio

# Loop turns a batch lets pass between two slices: one for the I/O callbacks that read a new
# request, one for the task that request starts, one for its first step.
TURNS = 3
MAX_WAIT_S = 0.02


class Priority:
    """Counts interactive requests in flight; batches wait for none to be."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._waiting: list[asyncio.Future[None]] = []

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight and self._waiting:
            waiting, self._waiting = self._waiting, []
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def give_way(self, wait: bool = True) -> None:
        """Between two slices of background work: let interactive requests go first (with
        `wait` False, only let those that have arrived start)."""
        for _ in range(TURNS):
            await asyncio.sleep(0)
        if wait and self.in_flight:
            future = asyncio.get_running_loop().create_future()
            self._waiting.append(future)
            try:
                await asyncio.wait_for(future, MAX_WAIT_S)
            except TimeoutError:
                if future in self._waiting:
                    self._waiting.remove(future)
