"""LiveEngage → consumer: verified webhook events become channel messages or consumer-side commands.

``index_conversations`` keeps the conversation-routes table (conversation id → channel and consumer).
``route_agent_events`` reads one conversation's LiveEngage events in order, drops redeliveries (seen-events
table), the consumer's own echoes and private agent notes, renders agent texts and structured content for the
channel, and hands conversation changes and the agent's receipts to the consumer side as commands.
Delivery to the channel is ``streams.delivery``'s.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from schemas.topics import consumer_key
from streams.deadletters import DeadLetters
from streams.errors import UnknownConversationError
from streams.records import decode
from streams.rendering import render
from streams.settings import WorkerSettings
from streams.state import RecentIds, RecordTable
from streams.topics import Topics, publish

EVENT = codec("LiveEngageEvent")
ROUTE = codec("ConversationRoute")
OUTBOUND = codec("ChannelOutbound")
COMMAND = codec("LiveEngageCommand")
IDENTITY = codec("ConsumerIdentity")
MESSAGING = "ms.MessagingEventNotification"
TYPING_STATES = {"COMPOSING": True, "ACTIVE": False, "PAUSE": False}


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
        "sequence": event["sequence"],
        "created_at": event["received_at"],  # the webhook's arrival: delivery latency counts from there
    }


def conversation_change(event: dict[str, Any]) -> dict[str, Any] | None:
    """The ConversationChange an ExConversationChangeNotification change describes; ``None`` for DELETE
    (undocumented for webhooks) or a change without details. Pure."""
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
    return {
        "conversation_id": event["conversation_id"],
        "state": str(details.get("state", "OPEN")),
        "close_reason": details.get("closeReason"),
        "dialog_id": current.get("dialogId"),
        "dialog_type": current.get("dialogType"),
        "skill_id": None if details.get("skillId") is None else str(details["skillId"]),
        "agent_id": agents[0] if agents else None,
        "updated_at": updated if isinstance(updated, int) else 0,
    }


def install(app: faust.App, topics: Topics, routes: RecordTable, seen: RecentIds, dead_letters: DeadLetters,
            settings: WorkerSettings) -> None:
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
        if record["originator_role"] == "CONSUMER":
            return  # the consumer's own event coming back
        # Sequenced events and conversation changes have stable ids; redeliveries of them are dropped here.
        stable = record["sequence"] is not None or record["event_type"] is None
        if stable and seen.seen(record["conversation_id"], record["event_id"]):
            return
        await dispatch(record)
        if stable:
            seen.add(record["conversation_id"], record["event_id"])

    async def dispatch(record: dict[str, Any]) -> None:
        if record["notification_type"] != MESSAGING:
            change = conversation_change(record)
            if change is None:
                return
            if routes.get(record["conversation_id"]) is None:
                # Not routed (yet): the identity index forwards it once it knows the consumer, without
                # holding up this conversation's partition (streams.identities).
                await announce_unrouted(record, change)
            else:
                await to_consumer_side(record, "APPLY_CHANGE", change=change)
            return
        body = json.loads(record["change_json"]).get("event") or {}
        if record["event_type"] == "AcceptStatusEvent" and body.get("status") in ("ACCEPT", "READ"):
            await to_consumer_side(record, "AGENT_RECEIPT", accept_status=body["status"],
                                   sequences=[s for s in body.get("sequenceList") or [] if isinstance(s, int)])
        elif record["event_type"] == "ChatStateEvent" and body.get("chatState") in TYPING_STATES:
            route = await wait_for_route(record["conversation_id"])
            channel = settings.channels.get(route["channel_id"])
            if channel is not None and channel.capabilities.typing:
                await to_channel(route, {"message_id": f"{record['event_id']}:typing", "kind": "TYPING",
                                         "typing": TYPING_STATES[body["chatState"]],
                                         "conversation_id": record["conversation_id"],
                                         "created_at": record["received_at"]})
        elif (content := consumer_content(record)) is not None:
            await to_channel(await wait_for_route(record["conversation_id"]), content)

    async def announce_unrouted(record: dict[str, Any], change: dict[str, Any]) -> None:
        """A change of a conversation with no route (yet): let the identity index match its consumer."""
        details = (json.loads(record["change_json"]).get("result") or {}).get("conversationDetails") or {}
        consumers = [p.get("id") for p in details.get("participants") or [] if p.get("role") == "CONSUMER"]
        if consumers and isinstance(consumers[0], str):
            identity = {"lp_consumer_id": consumers[0], "account_id": record["account_id"], "channel_id": None,
                        "consumer_id": None, "change": change}
            await publish(topics.consumer_identities, consumers[0], IDENTITY.encode(identity))

    async def to_channel(route: dict[str, Any], content: dict[str, Any]) -> None:
        message = content | {"channel_id": route["channel_id"], "consumer_id": route["consumer_id"]}
        await publish(topics.channel_outbound, consumer_key(route["channel_id"], route["consumer_id"]),
                      OUTBOUND.encode(message))

    async def to_consumer_side(record: dict[str, Any], action: str, **fields: Any) -> None:
        route = await wait_for_route(record["conversation_id"])
        command = {"command_id": record["event_id"], "account_id": route["account_id"],
                   "channel_id": route["channel_id"], "consumer_id": route["consumer_id"], "action": action,
                   "created_at": record["received_at"], **fields}
        await publish(topics.liveengage_commands, consumer_key(route["channel_id"], route["consumer_id"]),
                      COMMAND.encode(command))

    async def wait_for_route(conversation_id: str) -> dict[str, Any]:
        # The route is published just before the first SEND of a new conversation, on another topic: give
        # index_conversations a moment to catch up before deciding the conversation is not ours.
        deadline = time.monotonic() + settings.route_wait_s
        while (route := routes.get(conversation_id)) is None:
            if time.monotonic() >= deadline:
                raise UnknownConversationError(f"conversation {conversation_id} was not opened by this connector")
            await asyncio.sleep(0.05)
        return route
