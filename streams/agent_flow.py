"""LiveEngage → consumer: verified webhook events become channel messages, delivered to the channel gateway.

``index_conversations`` keeps the conversation-routes table (conversation id → channel and consumer).
``route_agent_events`` reads LiveEngage events of a conversation, drops the consumer's own echoes and private
agent notes, and renders agent texts as ChannelOutbound records. ``deliver_to_channel`` posts them to the gateway.
The first two are keyed by conversation id and share the table's partitions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from schemas.topics import consumer_key
from streams.channels import ChannelClient
from streams.deadletters import DeadLetters
from streams.errors import UnknownConversationError
from streams.records import decode
from streams.retry import with_retries
from streams.settings import WorkerSettings
from streams.state import RecordTable
from streams.topics import Topics, publish

logger = logging.getLogger(__name__)

EVENT = codec("LiveEngageEvent")
ROUTE = codec("ConversationRoute")
OUTBOUND = codec("ChannelOutbound")
MESSAGING = "ms.MessagingEventNotification"


def consumer_content(event: dict[str, Any]) -> dict[str, Any] | None:
    """What the consumer should see of a LiveEngage event, as a ChannelOutbound record without its address;
    ``None`` when the consumer must not see it.

    Pure. Drops the consumer's own events coming back (echoes), private notes to agents and managers, and for
    now every event other than plain text.
    """
    if event["notification_type"] != MESSAGING or event["originator_role"] == "CONSUMER":
        return None
    change = json.loads(event["change_json"])
    if change.get("messageAudience") == "AGENTS_AND_MANAGERS":
        return None
    body = change.get("event") or {}
    if body.get("type") != "ContentEvent" or body.get("contentType", "text/plain") != "text/plain":
        return None
    text = body.get("message")
    if not isinstance(text, str):
        return None
    return {
        "message_id": f"{event['conversation_id']}:{event['sequence']}" if event["sequence"] is not None
        else event["event_id"],
        "conversation_id": event["conversation_id"],
        "kind": "TEXT",
        "text": text,
        "sequence": event["sequence"],
        "created_at": datetime.now(timezone.utc),
    }


def addressed(content: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    """The content addressed to the consumer and channel of its conversation's route."""
    return content | {"channel_id": route["channel_id"], "consumer_id": route["consumer_id"]}


def install(app: faust.App, topics: Topics, routes: RecordTable, dead_letters: DeadLetters,
            channels: ChannelClient, settings: WorkerSettings) -> None:
    """Register this flow's agents on ``app``."""

    @app.agent(topics.conversation_routes, name="index_conversations")
    async def index_conversations(stream: StreamT[bytes]) -> None:
        """Remember which channel and consumer each LiveEngage conversation belongs to."""
        await dead_letters.consume(stream, index)

    async def index(event: EventT[bytes]) -> None:
        route = decode(ROUTE, event)
        routes.put(route["conversation_id"], route)

    @app.agent(topics.liveengage_events, name="route_agent_events")
    async def route_agent_events(stream: StreamT[bytes]) -> None:
        """Turn agent activity from LiveEngage into messages for the consumer's channel."""
        await dead_letters.consume(stream, route_event)

    async def route_event(event: EventT[bytes]) -> None:
        record = decode(EVENT, event)
        content = consumer_content(record)
        if content is None:
            return
        route = await wait_for_route(record["conversation_id"])
        message = addressed(content, route)
        key = consumer_key(message["channel_id"], message["consumer_id"])
        await publish(topics.channel_outbound, key, OUTBOUND.encode(message))

    async def wait_for_route(conversation_id: str) -> dict[str, Any]:
        # The route is published just before the first SEND of a new conversation, on another topic: give
        # index_conversations a moment to catch up before deciding the conversation is not ours.
        deadline = time.monotonic() + settings.route_wait_s
        while (route := routes.get(conversation_id)) is None:
            if time.monotonic() >= deadline:
                raise UnknownConversationError(f"conversation {conversation_id} was not opened by this connector")
            await asyncio.sleep(0.05)
        return route

    @app.agent(topics.channel_outbound, name="deliver_to_channel")
    async def deliver_to_channel(stream: StreamT[bytes]) -> None:
        """Deliver messages for consumers to their channel gateway."""
        await dead_letters.consume(stream, deliver)

    async def deliver(event: EventT[bytes]) -> None:
        message = decode(OUTBOUND, event)
        await with_retries(lambda: channels.deliver(message), attempts=settings.send_attempts,
                           base_delay_s=settings.retry_base_delay_s, what="channel delivery")
