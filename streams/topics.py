"""The catalogue's topics as Faust topics. Values stay raw bytes: agents decode them inside their loop, so a
record that does not decode is dead-lettered with its original bytes instead of being skipped by Faust."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from schemas import topics as catalogue
from schemas.topics import TopicSpec


async def publish(topic: TopicT, key: str | bytes | None, value: bytes,
                  headers: dict[str, bytes] | None = None) -> None:
    """Send one record now and return once Kafka acknowledged it (before the source offset can be committed)."""
    sent = await topic.send(key=key, value=value, headers=headers, force=True)
    await sent


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
        )
