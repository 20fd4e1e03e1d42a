"""LiveEngage → consumer: verified webhook events become channel messages or consumer-side commands.

``index_conversations`` keeps the conversation-routes table (conversation or survey dialog id → channel and
consumer) and hands over the events parked waiting for a route. ``route_agent_events`` reads one conversation's
LiveEngage events in order, drops redeliveries (seen-events table), the consumer's own echoes and private agent
notes, renders agent texts and structured content for the channel, and hands conversation changes and the
agent's receipts to the consumer side as commands. An event without a route never waits on the partition: it
is parked by conversation (``streams.parking``) until the route comes, or dropped once too old.
Delivery to the channel is ``streams.delivery``'s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import EventT, StreamT

from schemas.codec import codec
from schemas.topics import LIVEENGAGE_EVENTS, consumer_key
from streams.engine.deadletters import DeadLetters
from streams.errors import RecordError, UnexpectedError
from streams.parking import ParkedEvents
from streams.records import decode, key_of
from streams.rendering import render
from streams.settings import WorkerSettings
from streams.state import RecentIds, RecordTable
from streams.engine.topics import Topics, publish

logger = logging.getLogger(__name__)
EVENT = codec("LiveEngageEvent")
ROUTE = codec("ConversationRoute")
OUTBOUND = codec("ChannelOutbound")
COMMAND = codec("LiveEngageCommand")
IDENTITY = codec("ConsumerIdentity")
MESSAGING = "ms.MessagingEventNotification"
TYPING_STATES = {"COMPOSING": True, "ACTIVE": False, "PAUSE": False}
FILE_CONTENT_TYPES = {"JPG": "image/jpeg", "JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                      "PDF": "application/pdf", "TXT": "text/plain", "IMG": "image/jpeg"}
ORIGINATOR_HEADER = LIVEENGAGE_EVENTS.header_name("originator_role")
TYPING_MARK = "typing="  # the seen-events marker of the typing state last sent to the channel


def consumer_content(event: dict[str, Any]) -> dict[str, Any] | None:
    """What the consumer should see of an agent's messaging event, as a ChannelOutbound record without its
    address; ``None`` when the consumer must not see it.

    Pure. Drops the consumer's own events coming back (echoes), private notes to agents and managers, and
    events that are not messages (receipts, chat states, conversation changes are handled elsewhere).
    """
    if event["notification_type"] != MESSAGING or event["originator_role"] == "CONSUMER":
        return None
    change = json.loads(event["change_json"])
    if change.get("messageAudience") == "AGENTS_AND_MANAGERS":
        return None
    body = change.get("event") or {}
    if body.get("type") == "ContentEvent" and body.get("contentType", "text/plain") == "text/plain":
        rendered = render(None, body.get("message") if isinstance(body.get("message"), str) else None,
                          body.get("quickReplies"))
    elif body.get("type") == "RichContentEvent":
        rendered = render(body.get("content") or body.get("message"), None, body.get("quickReplies"))
    else:
        return None
    if not rendered.text:
        return None
    return {
        "message_id": f"{event['dialog_id']}:{event['sequence']}" if event["sequence"] is not None
        else event["event_id"],
        "conversation_id": event["conversation_id"],
        "kind": "TEXT",
        "text": rendered.text,
        "choices": rendered.choices,
        "choice_metadata": rendered.metadata,
        "sequence": event["sequence"],
        "created_at": event["received_at"],  # the webhook's arrival: delivery latency counts from there
    }


def agent_file(event: dict[str, Any]) -> dict[str, Any] | None:
    """The ChannelFile of a file an agent shared (``hosted/file``: Connector API ``Webhooks/events.md``), its url the
    file's relativePath at LiveEngage; ``None`` for anything else or what the consumer must not see. Pure."""
    if event["notification_type"] != MESSAGING or event["originator_role"] == "CONSUMER":
        return None
    change = json.loads(event["change_json"])
    body = change.get("event") or {}
    message = body.get("message")
    if change.get("messageAudience") == "AGENTS_AND_MANAGERS" or body.get("contentType") != "hosted/file" \
            or not isinstance(message, dict) or not isinstance(message.get("relativePath"), str):
        return None
    content_type = FILE_CONTENT_TYPES.get(str(message.get("fileType", "")).upper(), "application/octet-stream")
    caption = message.get("caption")
    return {"url": message["relativePath"], "content_type": content_type,
            "caption": caption if isinstance(caption, str) and caption else None}


def conversation_change(event: dict[str, Any]) -> dict[str, Any] | None:
    """The ConversationChange an ExConversationChangeNotification change describes; ``None`` for DELETE
    (undocumented for webhooks) or a change without details. Pure.

    Older notifications lack ``dialogs``, ``stage`` and ``skillId`` (Connector API ``Webhooks/webhooks-examples.md``);
    those stay null here and the sender treats null as "not said".
    """
    change = json.loads(event["change_json"])
    result = change.get("result") or {}
    details = result.get("conversationDetails")
    if change.get("type") == "DELETE" or not isinstance(details, dict):
        return None
    dialogs = [d for d in details.get("dialogs") or [] if isinstance(d, dict)]
    open_dialogs = [d for d in dialogs if d.get("state") == "OPEN"]
    survey = [d for d in open_dialogs if d.get("dialogType") == "POST_SURVEY"]
    current = (survey or open_dialogs or [{}])[0]
    agents = [p.get("id") for p in details.get("participants") or [] if p.get("role") == "ASSIGNED_AGENT"]
    updated = details.get("metaDataLastUpdateTs")
    stage = details.get("stage")
    return {
        "conversation_id": event["conversation_id"],
        "state": str(details.get("state", "OPEN")),
        "stage": str(stage) if stage is not None else None,
        "close_reason": details.get("closeReason"),
        "dialog_id": current.get("dialogId"),
        "dialog_type": current.get("dialogType"),
        "skill_id": None if details.get("skillId") is None else str(details["skillId"]),
        "agent_id": agents[0] if agents else None,
        "updated_at": updated if isinstance(updated, int) else 0,
    }


def consumers_own(event: EventT[bytes]) -> bool:
    """Whether the webhook bridge marked the record as the consumer's own event (``TopicSpec.header_fields``)."""
    headers = event.message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return any(name == ORIGINATOR_HEADER and value == b"CONSUMER" for name, value in pairs)


def install(app: faust.App, topics: Topics, routes: RecordTable, seen: RecentIds, parked: ParkedEvents,
            dead_letters: DeadLetters, settings: WorkerSettings) -> None:
    """Register this flow's agents on ``app``."""

    @app.agent(topics.conversation_routes, name="index_conversations")
    async def index_conversations(stream: StreamT[bytes]) -> None:
        """Remember which channel and consumer each LiveEngage conversation belongs to, and hand over the events
        that were parked waiting for it."""
        await dead_letters.consume(stream, index)

    async def index(event: EventT[bytes]) -> None:
        key = key_of(event)
        route = decode(ROUTE, event)
        if route["forgotten"]:  # state retention or erasure (streams.retention): parked events age out alone
            routes.delete(key)
            seen.forget(key)
            return
        routes.put(key, route)
        # Routes and events share keys and partition counts, so this conversation's parked events are here.
        await release(key, event.message.partition)

    draining: dict[int, asyncio.Lock] = {}  # one per partition: a parked event is handed over once

    async def release(key: str, partition: int) -> None:
        """Handle the parked events of a conversation whose route is known, in order. One that fails is
        dead-lettered by itself (the record being handled is the route, or a later event)."""
        async with draining.setdefault(partition, asyncio.Lock()):
            route = routes.get(key)
            while route is not None and (raw := parked.first(key)) is not None:
                try:
                    await route_known(EVENT.decode(raw), route)
                except KafkaError:
                    raise
                except Exception as exc:  # noqa: BLE001 - as DeadLetters.consume does for the record itself
                    if not isinstance(exc, RecordError):
                        logger.exception("unexpected error on a parked event of %s", key)
                        exc = UnexpectedError(f"{exc.__class__.__name__}: {exc}")
                    await dead_letters.send_record(LIVEENGAGE_EVENTS.name, key.encode(), raw, exc)
                parked.pop_first(key, partition)

    @app.agent(topics.liveengage_events, name="route_agent_events")
    async def route_agent_events(stream: StreamT[bytes]) -> None:
        """Turn agent activity from LiveEngage into messages for the consumer's channel."""
        await dead_letters.consume(stream, route_event)

    async def route_event(event: EventT[bytes]) -> None:
        if consumers_own(event):
            return  # the consumer's own event coming back (one per text): told by its header, not decoded
        record = decode(EVENT, event)
        partition, generation = event.message.partition, event.message.generation_id
        parked.expire(partition, generation, record["received_at"])
        if record["originator_role"] == "CONSUMER":
            return  # the same, written before the bridge set the header
        key = record["conversation_id"]
        route = routes.get(key)
        if route is not None and not parked.holds(key):
            await route_known(record, route)
            return
        # Kept for the route: the creation of a conversation the sender is opening arrives before its route and
        # must still come before the changes that follow it. Behind events already parked, it waits its turn.
        parked.park(key, EVENT.encode(record), record["received_at"], partition, generation)
        if route is not None:  # parked events whose hand-over a restart interrupted: hand them over now
            await release(key, partition)
        elif record["notification_type"] != MESSAGING and (change := conversation_change(record)) is not None:
            # Perhaps a conversation LiveEngage opened for one of our consumers: the identity index matches its
            # consumer and publishes the route (streams.identities), which hands this over.
            await announce_unrouted(record, change)

    async def route_known(record: dict[str, Any], route: dict[str, Any]) -> None:
        """Handle one event of a routed conversation, unless it is a redelivery. Sequenced events and conversation
        changes have stable ids; chat states are byte-identical from one typing cycle to the next, so they are
        told apart by the state the channel shows instead (``typing``)."""
        stable = record["sequence"] is not None or record["event_type"] is None
        if stable and seen.seen(record["conversation_id"], record["event_id"]):
            return
        await dispatch(record, route)
        if stable:
            seen.add(record["conversation_id"], record["event_id"])

    async def dispatch(record: dict[str, Any], route: dict[str, Any]) -> None:
        if record["notification_type"] != MESSAGING:
            if (change := conversation_change(record)) is not None:
                await to_consumer_side(record, route, "APPLY_CHANGE", change=change)
            return
        body = json.loads(record["change_json"]).get("event") or {}
        if record["event_type"] == "AcceptStatusEvent" and body.get("status") in ("ACCEPT", "READ"):
            await to_consumer_side(record, route, "AGENT_RECEIPT", accept_status=body["status"],
                                   sequences=[s for s in body.get("sequenceList") or [] if isinstance(s, int)])
        elif record["event_type"] == "ChatStateEvent" and body.get("chatState") in TYPING_STATES:
            await typing(record, route, TYPING_STATES[body["chatState"]])
        elif (file := agent_file(record)) is not None:
            await to_consumer_side(record, route, "AGENT_FILE", file=file)  # the sender holds the ConsumerJWS
        elif (content := consumer_content(record)) is not None:
            await to_channel(route, content)
            if seen.marker(record["conversation_id"], TYPING_MARK) == str(True):
                seen.mark(record["conversation_id"], TYPING_MARK, str(False))  # a message ends the typing shown

    async def typing(record: dict[str, Any], route: dict[str, Any], composing: bool) -> None:
        """Typing on or off, once per change of what the channel shows: a redelivered chat state is a repeat."""
        if seen.marker(record["conversation_id"], TYPING_MARK) == str(composing):
            return
        channel = settings.channels.get(route["channel_id"])
        if channel is not None and channel.capabilities.typing:
            arrived = int(record["received_at"].timestamp() * 1000)
            await to_channel(route, {"message_id": f"{record['dialog_id']}:typing@{arrived}", "kind": "TYPING",
                                     "typing": composing, "conversation_id": route["conversation_id"],
                                     "created_at": record["received_at"]})
        seen.mark(record["conversation_id"], TYPING_MARK, str(composing))

    async def announce_unrouted(record: dict[str, Any], change: dict[str, Any]) -> None:
        """A change of a conversation with no route (yet): let the identity index match its consumer."""
        details = (json.loads(record["change_json"]).get("result") or {}).get("conversationDetails") or {}
        consumers = [p.get("id") for p in details.get("participants") or [] if p.get("role") == "CONSUMER"]
        if consumers and isinstance(consumers[0], str):
            identity = {"lp_consumer_id": consumers[0], "account_id": record["account_id"], "channel_id": None,
                        "consumer_id": None, "change": change}
            await publish(topics.consumer_identities, consumers[0], IDENTITY.encode(identity))

    async def to_channel(route: dict[str, Any], content: dict[str, Any]) -> None:
        message = content | {"channel_id": route["channel_id"], "consumer_id": route["consumer_id"],
                             "conversation_id": route["conversation_id"]}
        await publish(topics.channel_outbound, consumer_key(route["channel_id"], route["consumer_id"]),
                      OUTBOUND.encode(message))

    async def to_consumer_side(record: dict[str, Any], route: dict[str, Any], action: str, **fields: Any) -> None:
        command = {"command_id": record["event_id"], "account_id": route["account_id"],
                   "channel_id": route["channel_id"], "consumer_id": route["consumer_id"], "action": action,
                   "created_at": record["received_at"], **fields}
        await publish(topics.liveengage_commands, consumer_key(route["channel_id"], route["consumer_id"]),
                      COMMAND.encode(command))
