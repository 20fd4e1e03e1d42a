"""The topic catalogue: the only place that spells topic names, with each topic's key and value contract."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, the record type of its values, and what its key is."""

    name: str
    value_record: str
    key: str
    # Value fields also written as record headers ``lec.<field>`` (UTF-8, absent when null), so that a reader can
    # tell what a record is without decoding its value: the worker drops LiveEngage's echo of each consumer
    # event by its ``lec.originator_role`` header.
    header_fields: tuple[str, ...] = ()

    def headers(self, record: dict[str, object]) -> list[tuple[str, bytes]]:
        return [(self.header_name(name), str(record[name]).encode()) for name in self.header_fields
                if record.get(name) is not None]

    @staticmethod
    def header_name(field: str) -> str:
        return f"lec.{field}"

    @property
    def dead_letters(self) -> TopicSpec:
        """The dead-letter twin that receives this topic's records the worker could not process."""
        return TopicSpec(f"{self.name}.dlq", "DeadLetter", self.key)


CHANNEL_INBOUND = TopicSpec("lec.channel.inbound", "ChannelInbound", "channel_id:consumer_id")
LIVEENGAGE_COMMANDS = TopicSpec("lec.liveengage.commands", "LiveEngageCommand", "channel_id:consumer_id")
LIVEENGAGE_EVENTS = TopicSpec("lec.liveengage.events", "LiveEngageEvent", "conversation_id",
                              header_fields=("originator_role",))
CONVERSATION_ROUTES = TopicSpec("lec.conversation.routes", "ConversationRoute", "conversation_id")
CHANNEL_OUTBOUND = TopicSpec("lec.channel.outbound", "ChannelOutbound", "channel_id:consumer_id")
CONSUMER_IDENTITIES = TopicSpec("lec.consumer.identities", "ConsumerIdentity", "lp_consumer_id")
LIVEENGAGE_RETRIES = TopicSpec("lec.liveengage.retries", "LiveEngageCommand", "channel_id:consumer_id")

# For analytics consumers only: written by the worker, read by nobody in the connector, free of PII.
ANALYTICS_EVENTS = TopicSpec("lec.analytics.events", "AnalyticsEvent", "conversation_id")

SOURCES = (CHANNEL_INBOUND, LIVEENGAGE_COMMANDS, LIVEENGAGE_EVENTS, CONVERSATION_ROUTES, CHANNEL_OUTBOUND,
           CONSUMER_IDENTITIES, LIVEENGAGE_RETRIES)
ALL = SOURCES + tuple(topic.dead_letters for topic in SOURCES) + (ANALYTICS_EVENTS,)

# Worker state tables; Faust names their changelog topics "<app id>-<table>-changelog".
CONVERSATIONS_TABLE = "conversations"  # ConversationState by channel_id:consumer_id
ROUTES_TABLE = "conversation-routes"  # ConversationRoute by conversation id
SEEN_EVENTS_TABLE = "seen-events"  # the latest LiveEngage event ids routed, by conversation_id
CHOICES_TABLE = "offered-choices"  # OfferedChoices by channel_id:consumer_id
IDENTITIES_TABLE = "consumer-identities"  # ConsumerIdentity by lp_consumer_id
DELIVERED_TABLE = "delivered-messages"  # the latest channel deliveries done, by channel_id:consumer_id
OPT_OUTS_TABLE = "opt-outs"  # consumers who texted STOP, by channel_id:consumer_id
PARKED_TABLE = "parked-events"  # ParkedEvents: LiveEngage events waiting for their route, by conversation id
TABLES = (CONVERSATIONS_TABLE, ROUTES_TABLE, SEEN_EVENTS_TABLE, CHOICES_TABLE, IDENTITIES_TABLE, DELIVERED_TABLE,
          OPT_OUTS_TABLE, PARKED_TABLE)


def value_records() -> list[tuple[str, str]]:
    """(topic, value record) of every topic of the catalogue: what a writer registers in a Schema Registry."""
    return [(topic.name, topic.value_record) for topic in ALL]


def consumer_key(channel_id: str, consumer_id: str) -> str:
    """The key of one consumer's records: all their events share a partition and so keep their order."""
    return f"{channel_id}:{consumer_id}"
