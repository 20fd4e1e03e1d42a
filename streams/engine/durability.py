"""One flush of the producer acknowledges the table writes of every record waiting for it (group commit).

Faust writes changelogs through a buffer whose flush gives up after 0.1 s without a message sent (under load, it
does), so the buffer is emptied first, then the Kafka client's own flush waits for the acknowledgements. With
records of many conversations in flight (``streams.engine.lanes``), each waiting for its own flush would send one
produce request per record; a caller that arrives while a flush runs waits for the next one instead, which
covers every write made before it started, so the writes of many records share one round trip.
"""

from __future__ import annotations

import asyncio
import time

import faust

from streams.engine.faust_internals import flush_changelog_buffer


class Durability:
    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._started = 0  # flushes started so far; the next one covers every write made before it starts
        self._finished = 0  # the number of the last flush that ended
        self._running: asyncio.Future[None] | None = None

    async def acknowledged(self, patience_s: float) -> None:
        """Return once Kafka acknowledged every table write made before this call.

        Raises ``TimeoutError``, ``KafkaError`` or ``RuntimeError`` (Faust's "Producer not Running")."""
        needed = self._started + 1  # a flush already running may have started before this caller's writes
        deadline = time.monotonic() + patience_s
        while self._finished < needed:
            if self._running is None:
                self._running = asyncio.ensure_future(self._flush(deadline))
            running = self._running
            await asyncio.shield(running)

    async def _flush(self, deadline: float) -> None:
        self._started += 1
        number = self._started
        try:
            await flush_changelog_buffer(self._app, deadline)
            await asyncio.wait_for(self._app.producer.flush(), max(deadline - time.monotonic(), 0.1))
            self._finished = max(self._finished, number)
        finally:
            self._running = None
