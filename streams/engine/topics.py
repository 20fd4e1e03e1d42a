"""The catalogue's topics as Faust topics. Values stay raw bytes: agents decode them inside their loop, so a
record that does not decode is dead-lettered with its original bytes instead of being skipped by Faust."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import faust
from aiokafka.errors import KafkaError
from faust.types import TopicT

from schemas import topics as catalogue
from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)


_patience = {"seconds": 30.0}


def set_publish_patience(seconds: float) -> None:
    """How long ``publish`` keeps retrying a retriable Kafka error (the worker's LEC_PRODUCE_TIMEOUT_S)."""
    _patience["seconds"] = seconds


def publish_patience() -> float:
    return _patience["seconds"]


async def publish(topic: TopicT, key: str | bytes | None, value: bytes,
                  headers: dict[str, bytes] | None = None) -> None:
    """Send one record now and return once Kafka acknowledged it (before the source offset can be committed).

    A retriable Kafka error (a broker restarting, a leader moving) is retried with backoff for the configured
    patience; after that, or on any other error, it raises. A retry after a lost acknowledgement can write the
    record twice: its consumers deduplicate (seen-events, the ledger, delivered-messages).
    """
    deadline = time.monotonic() + _patience["seconds"]
    delay = 0.1
    while True:
        try:
            sent = await topic.send(key=key, value=value, headers=headers, force=True)
            await sent
            return
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() + delay > deadline:
                raise
            logger.warning("publish to %s failed (%s); retrying in %.1fs", topic.get_topic_name(),
                           exc.__class__.__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def as_faust_topic(app: faust.App, spec: TopicSpec) -> TopicT:
    return app.topic(spec.name, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")


@dataclass(frozen=True)
class Topics:
    channel_inbound: TopicT
    liveengage_commands: TopicT
    liveengage_events: TopicT
    conversation_routes: TopicT
    channel_outbound: TopicT
    consumer_identities: TopicT
    liveengage_retries: TopicT
    analytics_events: TopicT

    @classmethod
    def of(cls, app: faust.App) -> Topics:
        return cls(
            channel_inbound=as_faust_topic(app, catalogue.CHANNEL_INBOUND),
            liveengage_commands=as_faust_topic(app, catalogue.LIVEENGAGE_COMMANDS),
            liveengage_events=as_faust_topic(app, catalogue.LIVEENGAGE_EVENTS),
            conversation_routes=as_faust_topic(app, catalogue.CONVERSATION_ROUTES),
            channel_outbound=as_faust_topic(app, catalogue.CHANNEL_OUTBOUND),
            consumer_identities=as_faust_topic(app, catalogue.CONSUMER_IDENTITIES),
            liveengage_retries=as_faust_topic(app, catalogue.LIVEENGAGE_RETRIES),
            analytics_events=as_faust_topic(app, catalogue.ANALYTICS_EVENTS),
        )
