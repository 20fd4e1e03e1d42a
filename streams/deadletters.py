"""Dead letters: a record the worker could not process goes to its source topic's ``.dlq`` twin, with context."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import faust
from faust.types import EventT

from schemas import topics as catalogue
from schemas.codec import codec
from streams.errors import RecordError
from streams.topics import as_faust_topic

logger = logging.getLogger(__name__)


class DeadLetters:
    """Writes DeadLetter records keyed like the original, and waits for Kafka's acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self._topics = {spec.name: as_faust_topic(app, spec.dead_letters) for spec in catalogue.SOURCES}
        self._codec = codec("DeadLetter")

    async def send(self, event: EventT[bytes], error: RecordError, *, attempts: int = 1) -> None:
        message = event.message
        record = {
            "source_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": message.key if isinstance(message.key, bytes) else None,
            "value": message.value if isinstance(message.value, bytes) else None,
            "error_class": error.__class__.__name__,
            "reason": str(error)[:1000],
            "attempts": attempts,
            "failed_at": datetime.now(timezone.utc),
        }
        logger.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset,
                       error.__class__.__name__)
        topic = self._topics[message.topic]
        sent = await topic.send(key=event.key, value=self._codec.encode(record), force=True)
        await sent
