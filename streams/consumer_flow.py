"""Consumer → LiveEngage: channel events become Send API commands, and the sender carries them out in order.

``plan_consumer_events`` turns each ChannelInbound record into a LiveEngageCommand (a pure translation).
``send_to_liveengage`` owns the conversation table: for each command it opens a conversation when the consumer
has none (CONVERSATION with SDEs and routing, ConsumerJWS from IdP cached in state), publishes the route of a new
conversation, then performs the command through SEND. Both are keyed by channel_id:consumer_id, so one
consumer's events are handled one at a time, in order.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from streams import requests
from streams.deadletters import DeadLetters
from streams.records import decode, key_of
from streams.errors import UnknownChannelError, UnsupportedEventError
from streams.liveengage import LiveEngageClient
from streams.retry import with_retries
from streams.settings import WorkerSettings
from streams.state import RecordTable
from streams.topics import Topics, publish

logger = logging.getLogger(__name__)

INBOUND = codec("ChannelInbound")
COMMAND = codec("LiveEngageCommand")
ROUTE = codec("ConversationRoute")


def command_for(inbound: dict[str, Any], settings: WorkerSettings) -> dict[str, Any]:
    """The LiveEngage command for one channel event. Pure: no I/O."""
    route = settings.channels.get(inbound["channel_id"])
    if route is None:
        raise UnknownChannelError(f"channel {inbound['channel_id']!r} is not configured")
    return {
        "command_id": inbound["event_id"],
        "account_id": route.account_id,
        "channel_id": inbound["channel_id"],
        "consumer_id": inbound["consumer_id"],
        "action": "PUBLISH_TEXT" if inbound["kind"] == "TEXT" else "UNKNOWN",
        "text": inbound["text"],
        "profile": inbound["profile"],
        "created_at": datetime.now(timezone.utc),
    }


def install(app: faust.App, topics: Topics, conversations: RecordTable, dead_letters: DeadLetters,
            liveengage: LiveEngageClient, settings: WorkerSettings) -> None:
    """Register this flow's agents on ``app``."""

    @app.agent(topics.channel_inbound, name="plan_consumer_events")
    async def plan_consumer_events(stream: StreamT[bytes]) -> None:
        """Translate channel events into LiveEngage commands."""
        await dead_letters.consume(stream, plan)

    async def plan(event: EventT[bytes]) -> None:
        command = command_for(decode(INBOUND, event), settings)
        await publish(topics.liveengage_commands, key_of(event), COMMAND.encode(command))

    @app.agent(topics.liveengage_commands, name="send_to_liveengage")
    async def send_to_liveengage(stream: StreamT[bytes]) -> None:
        """Carry out consumer commands through the Send API, opening conversations as needed."""
        await dead_letters.consume(stream, carry_out)

    async def carry_out(event: EventT[bytes]) -> None:
        key, command = key_of(event), decode(COMMAND, event)
        await with_retries(lambda: perform(key, command), attempts=settings.send_attempts,
                           base_delay_s=settings.retry_base_delay_s, what="Send API call")

    async def perform(key: str, command: dict[str, Any]) -> None:
        if command["action"] != "PUBLISH_TEXT":
            raise UnsupportedEventError(f"command action {command['action']} is not supported")
        state = await ensure_open_conversation(key, command)
        request = requests.publish_text(state["conversation_id"], state["dialog_id"], command["text"])
        await liveengage.send(command["account_id"], state["consumer_jws"], request)

    async def ensure_open_conversation(key: str, command: dict[str, Any]) -> dict[str, Any]:
        state = conversations.get(key) or new_state(command)
        if state["status"] == "OPEN":
            return state
        account_id = command["account_id"]
        route = settings.channels[command["channel_id"]]
        if state["consumer_jws"] is None:
            token = await liveengage.consumer_token(account_id, key)
            state.update(consumer_jws=token.jws, lp_consumer_id=token.lp_consumer_id)
            conversations.put(key, state | {"updated_at": datetime.now(timezone.utc)})
        batch = requests.open_conversation(account_id, requests.sdes(command["profile"], route, key), route)
        conversation_id = await liveengage.open_conversation(account_id, state["consumer_jws"], batch)
        now = datetime.now(timezone.utc)
        state.update(status="OPEN", conversation_id=conversation_id, dialog_id=conversation_id,
                     opened_at=now, updated_at=now)
        conversations.put(key, state)
        logger.info("opened conversation %s on account %s", conversation_id, account_id)
        route_record = {"conversation_id": conversation_id, "account_id": account_id,
                        "channel_id": command["channel_id"], "consumer_id": command["consumer_id"], "opened_at": now}
        await publish(topics.conversation_routes, conversation_id, ROUTE.encode(route_record))
        return state


def new_state(command: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": command["account_id"],
        "channel_id": command["channel_id"],
        "consumer_id": command["consumer_id"],
        "status": "CLOSED",
        "conversation_id": None,
        "dialog_id": None,
        "lp_consumer_id": None,
        "consumer_jws": None,
        "opened_at": None,
        "updated_at": datetime.now(timezone.utc),
    }

