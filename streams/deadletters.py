"""Dead letters: a record the worker could not process goes to its source topic's ``.dlq`` twin, with context."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import faust
from aiokafka.errors import KafkaError
from faust.types import EventT, StreamT

from schemas import topics as catalogue
from schemas.codec import codec

from streams.errors import RecordError, UnexpectedError
from streams.topics import as_faust_topic, publish

logger = logging.getLogger(__name__)
KAFKA_FAILURE_EXIT = 70


class DeadLetters:
    """Writes DeadLetter records keyed like the original, and waits for Kafka's acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self._topics = {spec.name: as_faust_topic(app, spec.dead_letters) for spec in catalogue.SOURCES}
        self._codec = codec("DeadLetter")

    async def consume(self, stream: StreamT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        """Run ``handle`` on every event of ``stream`` in order, and never let Faust ack an event silently.

        An event whose handling raised ``RecordError`` (bad data, a refusal) is dead-lettered and the loop goes
        on. A bug (any other exception) is logged with its traceback and dead-lettered too, so the record can be
        replayed once fixed. When Kafka itself fails (publishing a result or the dead letter), the process
        exits at once without committing, so the event is consumed again after the restart.
        """
        async for event in stream.events():
            try:
                try:
                    await handle(event)
                except RecordError as exc:
                    await self.send(event, exc)
                except KafkaError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug must not lose the record
                    logger.exception("unexpected error on %s[%d]@%d", event.message.topic, event.message.partition,
                                     event.message.offset)
                    await self.send(event, UnexpectedError(f"{exc.__class__.__name__}: {exc}"))
            except KafkaError as exc:
                logger.critical("Kafka failed while handling %s[%d]@%d (%s): exiting without committing it",
                                event.message.topic, event.message.partition, event.message.offset,
                                exc.__class__.__name__)
                os._exit(KAFKA_FAILURE_EXIT)

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
        headers = {"dlq.source.topic": topic, "dlq.source.partition": str(partition),
                   "dlq.source.offset": str(offset), "dlq.error.class": error.__class__.__name__,
                   "dlq.reason": str(record["reason"]), "dlq.attempts": str(error.attempts)}
        await publish(self._topics[topic], key, self._codec.encode(record),
                      headers={name: value.encode() for name, value in headers.items()})
