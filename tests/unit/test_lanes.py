"""Lanes and Durability, the two pieces of the worker's engine that decide what runs at once and what waits.

The crash tests (tests/e2e/test_crashes.py) hold the whole worker to the guarantee with 50 conversations in
flight; these pin the rules themselves: one key's records in order, other keys at once, the bound, and one flush
for the writes of every record waiting for one.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from streams.engine.durability import Durability
from streams.engine.lanes import Lanes
from tests.conftest import wait_until_async


async def settled(probe: Any, what: str) -> None:
    """Wait (1 s at most) until ``probe()`` holds: the lanes' tasks have run as far as they can."""
    await wait_until_async(lambda: asyncio.sleep(0, probe()), timeout=1, what=what, interval=0.001)


async def test_one_keys_records_run_in_order_and_other_keys_at_the_same_time() -> None:
    lanes = Lanes(limit=10)
    log: list[str] = []
    release = {key: asyncio.Event() for key in "ab"}

    def work(key: str, n: int) -> Any:
        async def run() -> None:
            log.append(f"{key}{n} start")
            await release[key].wait()
            log.append(f"{key}{n} end")
        return run

    for n in range(3):
        for key in "ab":
            await lanes.submit(key, work(key, n))
    await settled(lambda: len(log) >= 2, "both keys' first records to start")
    assert log == ["a0 start", "b0 start"]  # both keys at once, neither's second record yet
    assert lanes.in_flight() == 6 and lanes.keys_in_flight() == 2
    release["b"].set()
    await settled(lambda: "b2 end" in log, "b's three records")
    assert [entry for entry in log if entry.startswith("b")] == ["b0 start", "b0 end", "b1 start", "b1 end",
                                                                 "b2 start", "b2 end"]
    assert "a0 end" not in log  # a's lane still waits, b's went on without it
    release["a"].set()
    assert await lanes.drain(timeout=1)
    assert [entry for entry in log if entry.startswith("a")] == ["a0 start", "a0 end", "a1 start", "a1 end",
                                                                 "a2 start", "a2 end"]
    assert lanes.in_flight() == 0 and lanes.keys_in_flight() == 0


async def test_submitting_waits_while_the_bound_is_reached() -> None:
    lanes = Lanes(limit=2)
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    await lanes.submit("a", blocked)
    assert not lanes.saturated()
    await lanes.submit("b", blocked)
    assert lanes.saturated()  # the undelivered-records check then leaves the topic alone
    arrived = asyncio.Event()

    async def third_submission() -> None:
        arrived.set()  # submit() runs up to its wait for a slot in this same step, before the test resumes
        await lanes.submit("c", blocked)

    third = asyncio.ensure_future(third_submission())
    await asyncio.wait_for(arrived.wait(), 1)
    assert not third.done() and lanes.in_flight() == 2
    gate.set()
    await asyncio.wait_for(third, 1)
    assert await lanes.drain(timeout=1)
    assert not lanes.saturated()


async def test_a_record_that_raised_does_not_stop_its_key() -> None:
    lanes = Lanes(limit=4)
    ran: list[int] = []

    async def fails() -> None:
        raise RuntimeError("a bug")

    async def then() -> None:
        ran.append(2)

    await lanes.submit("a", fails)
    await lanes.submit("a", then)
    assert await lanes.drain(timeout=1)
    assert ran == [2]


class CountingProducer:
    """Faust's producer as far as Durability uses it: a buffer that empties (its sender waiting for the next
    write), and a flush that ends when the test lets it."""

    def __init__(self) -> None:
        self.flushes = 0
        self.flush_may_end = asyncio.Event()
        self.flush_may_end.set()
        self.buffer = SimpleNamespace(size=0, flush=self._noop, state="running", message_sent=asyncio.Event(),
                                      pending=SimpleNamespace(_getters=["the sender's wait"]))

    @staticmethod
    async def _noop() -> None:
        return None

    async def flush(self) -> None:
        self.flushes += 1
        await self.flush_may_end.wait()


async def test_records_waiting_together_share_one_flush_and_a_later_one_gets_its_own() -> None:
    producer = CountingProducer()
    durability = Durability(SimpleNamespace(producer=producer))  # type: ignore[arg-type]
    await asyncio.gather(*(durability.acknowledged(5.0) for _ in range(20)))
    assert producer.flushes == 1
    # A caller arriving while a flush runs may have written after it started: it waits for the next one.
    producer.flush_may_end.clear()
    first = asyncio.ensure_future(durability.acknowledged(5.0))
    await settled(lambda: producer.flushes == 2, "the first caller's flush to start")
    arrived = asyncio.Event()

    async def second_caller() -> None:
        arrived.set()  # acknowledged() runs up to its first wait in this same step, before the test resumes
        await durability.acknowledged(5.0)

    second = asyncio.ensure_future(second_caller())
    await asyncio.wait_for(arrived.wait(), 1)
    assert producer.flushes == 2 and not second.done()  # it came while the flush was held
    producer.flush_may_end.set()
    await asyncio.gather(first, second)
    assert producer.flushes == 3
