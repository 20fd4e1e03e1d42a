"""Key-parallel lanes: records of different keys are handled concurrently, records of one key strictly in order.

Throughput is otherwise set by latency: one record at a time, each waiting for a Send API call and two Kafka
acknowledgements, is about 150 records a second whatever the machine. A record starts only once the one before it
of the same key (a conversation, a consumer) is done, which includes its table writes being acknowledged by
Kafka (``Durability``), so the per-key order and the "at most one repeated send per crash" rule hold as before;
the bound on records in flight is the worst case a crash replays beyond that, across keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class Lanes:
    """At most ``limit`` records in flight; each key's in the order they were submitted."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Future[None]] = {}  # the last record submitted per key
        self._in_flight: set[asyncio.Future[None]] = set()

    async def submit(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """Queue ``work`` behind the key's earlier work; waits only while ``limit`` records are in flight.

        ``work`` must not raise (its caller turns failures into dead letters or exits): a lane whose work raised
        would still let the next record of its key go on.
        """
        await self._slots.acquire()
        before = self._tails.get(key)
        task = asyncio.ensure_future(self._after(before, work))
        self._tails[key] = task
        self._in_flight.add(task)
        task.add_done_callback(lambda done: self._done(key, done))

    @staticmethod
    async def _after(before: asyncio.Future[None] | None, work: Callable[[], Awaitable[None]]) -> None:
        if before is not None and not before.done():
            await asyncio.wait([before])  # only its end matters, not its outcome
        await work()

    def _done(self, key: Hashable, task: asyncio.Future[None]) -> None:
        self._slots.release()
        self._in_flight.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    def in_flight(self) -> int:
        """Records submitted and not done (running, or waiting behind their key's earlier record)."""
        return len(self._in_flight)

    def saturated(self) -> bool:
        """Whether ``limit`` records are in flight: the next one waits for a slot."""
        return self._slots.locked()

    def keys_in_flight(self) -> int:
        return len(self._tails)

    async def drain(self, timeout: float) -> bool:
        """Wait for every record in flight (and those queued behind them); False if some are still running."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)
        return not self._in_flight
