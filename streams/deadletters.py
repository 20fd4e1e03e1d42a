"""Dead letters: a record the worker could not process goes to its source topic's ``.dlq`` twin, with context."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import faust
from faust.types import EventT, StreamT

from schemas import topics as catalogue
from schemas.codec import codec
from streams.errors import RecordError
from streams.topics import as_faust_topic, publish

logger = logging.getLogger(__name__)


class DeadLetters:
    """Writes DeadLetter records keyed like the original, and waits for Kafka's acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self._topics = {spec.name: as_faust_topic(app, spec.dead_letters) for spec in catalogue.SOURCES}
        self._codec = codec("DeadLetter")

    async def consume(self, stream: StreamT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        """Run ``handle`` on every event of ``stream`` in order; an event whose handling raised ``RecordError``
        is dead-lettered and the loop goes on. Any other exception escapes and crashes the agent: a bug, not data.
        """
        async for event in stream.events():
            try:
                await handle(event)
            except RecordError as exc:
                await self.send(event, exc)

    async def send(self, event: EventT[bytes], error: RecordError) -> None:
        message = event.message
        key = message.key if isinstance(message.key, bytes) else None
        value = message.value if isinstance(message.value, bytes) else None
        await self.send_record(message.topic, key, value, error, partition=message.partition, offset=message.offset)

    async def send_record(self, topic: str, key: bytes | None, value: bytes | None, error: RecordError, *,
                          partition: int = -1, offset: int = -1) -> None:
        """Dead-letter one record; partition and offset are -1 for a record that was held in worker state."""
        record = {
            "source_topic": topic,
            "partition": partition,
            "offset": offset,
            "key": key,
            "value": value,
            "error_class": error.__class__.__name__,
            "reason": str(error)[:1000],
            "attempts": error.attempts,
            "failed_at": datetime.now(timezone.utc),
        }
        logger.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, error.__class__.__name__)
        await publish(self._topics[topic], key, self._codec.encode(record))
