"""Consumer → LiveEngage: channel events become commands, and the sender carries them out in order.

``plan_consumer_events`` turns each ChannelInbound record into a LiveEngageCommand (a translation that reads
only the choices last offered to the consumer). ``send_to_liveengage`` applies commands, including the changes
LiveEngage reported for the consumer's conversation, through ``streams.sender``. ``schedule_retries`` holds the
commands that met a LiveEngage outage until their retry is due. All are keyed by channel_id:consumer_id, so
one consumer's events are handled one at a time, in order, and an outage for one consumer holds up no other.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from streams import optout
from streams.engine.deadletters import DeadLetters
from streams.errors import UnknownChannelError
from streams.optout import OptOuts
from streams.records import decode, key_of
from streams.sender import ConversationSender
from streams.settings import ChannelRoute, WorkerSettings
from streams.state import RecordTable
from streams.engine.topics import Topics, publish

logger = logging.getLogger(__name__)
INBOUND = codec("ChannelInbound")
COMMAND = codec("LiveEngageCommand")
OUTBOUND = codec("ChannelOutbound")
CHAT_STATES = {"composing": "COMPOSING", "paused": "PAUSE", "active": "ACTIVE", "inactive": "INACTIVE",
               "gone": "GONE"}
# The channel's delivery status of an agent message → LiveEngage's accept status of it.
RECEIPT_STATUSES = {"delivered": "ACCEPT", "read": "READ", "failed": "NACK"}
ACTIONS = {"TEXT": "PUBLISH_TEXT", "FILE": "PUBLISH_FILE", "RECEIPT": "ACCEPT_STATUS", "CHAT_STATE": "CHAT_STATE",
           "CLOSE": "CLOSE", "SURVEY": "SUBMIT_SURVEY"}


def chosen(text: str, choices: list[str]) -> int | None:
    """The index of the offered choice a reply stands for: a reply that is just its number, or its text."""
    stripped = text.strip().rstrip(".")
    if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        return int(stripped) - 1
    matching = [index for index, choice in enumerate(choices) if choice.casefold() == text.strip().casefold()]
    return matching[0] if matching else None


def command_for(inbound: dict[str, Any], settings: WorkerSettings, offered: dict[str, Any] | None) -> dict[str, Any]:
    """The LiveEngage command for one channel event. Pure: no I/O.

    A text that picks one of the choices last offered becomes that choice's text, with what it answers and the
    button's metadata (a survey's answer id, Messaging Window API tutorial ``post-conversation-survey-pcs.md``).
    """
    route = settings.channels.get(inbound["channel_id"])
    if route is None:
        raise UnknownChannelError(f"channel {inbound['channel_id']!r} is not configured")
    kind, text = inbound["kind"], inbound["text"]
    answers = metadata = None
    if kind == "TEXT" and text and offered and (index := chosen(text, offered["choices"])) is not None:
        text, answers = offered["choices"][index], offered["message_id"]
        metadata = offered["metadata"][index] if index < len(offered["metadata"]) else None
    return {
        "command_id": inbound["event_id"],
        "account_id": route.account_id,
        "channel_id": inbound["channel_id"],
        "consumer_id": inbound["consumer_id"],
        "action": ACTIONS.get(kind, "UNKNOWN"),
        "text": text,
        "answers": answers,
        "metadata_json": metadata,
        "profile": inbound["profile"],
        "created_at": inbound["received_at"],  # the bridge's acceptance: Send API latency counts from there
        "file": inbound["file"],
        "accept_status": RECEIPT_STATUSES.get(inbound["receipt_status"] or ""),
        "message_ids": inbound["receipt_message_ids"],
        "chat_state": CHAT_STATES.get(inbound["chat_state"] or ""),
        "csat_rate": inbound["csat_rate"],
        "fcr": inbound["fcr"],
    }


def install(app: faust.App, topics: Topics, sender: ConversationSender, choices: RecordTable, opt_outs: OptOuts,
            dead_letters: DeadLetters, settings: WorkerSettings) -> None:
    """Register this flow's agents on ``app``."""

    @app.agent(topics.channel_inbound, name="plan_consumer_events")
    async def plan_consumer_events(stream: StreamT[bytes]) -> None:
        """Translate channel events into LiveEngage commands."""
        await dead_letters.consume(stream, plan)

    async def plan(event: EventT[bytes]) -> None:
        key = key_of(event)
        offered = choices.get(key)
        inbound = decode(INBOUND, event)
        if settings.log_pii:
            logger.debug("consumer %s sent %s %r", key, inbound["kind"], inbound["text"])
        command = command_for(inbound, settings, offered)
        channel = settings.channels[inbound["channel_id"]]  # known: command_for refuses an unknown channel
        if channel.capabilities.opt_out_keywords and inbound["kind"] == "TEXT":
            await obey_keyword(key, inbound, channel)
        await publish(topics.liveengage_commands, key, COMMAND.encode(command))

    async def obey_keyword(key: str, inbound: dict[str, Any], channel: ChannelRoute) -> None:
        """STOP and START change the opt-out list; HELP is answered at once. The word still goes to the agent."""
        word = optout.keyword(inbound["text"])
        if word == "STOP":
            opt_outs.opt_out(key)
        elif word == "START":
            opt_outs.opt_in(key)
        elif word == "HELP" and channel.help_reply:
            await publish(topics.channel_outbound, key, OUTBOUND.encode({
                "message_id": f"{inbound['event_id']}:help", "channel_id": inbound["channel_id"],
                "consumer_id": inbound["consumer_id"], "conversation_id": "", "kind": "NOTICE", "notice": "help",
                "text": channel.help_reply, "created_at": inbound["received_at"]}))

    @app.agent(topics.liveengage_commands, name="send_to_liveengage")
    async def send_to_liveengage(stream: StreamT[bytes]) -> None:
        """Carry out consumer commands through the Send API, opening conversations as needed."""
        await dead_letters.consume(stream, carry_out)

    async def carry_out(event: EventT[bytes]) -> None:
        await sender.apply(key_of(event), decode(COMMAND, event))

    @app.agent(topics.liveengage_retries, name="schedule_retries")
    async def schedule_retries(stream: StreamT[bytes]) -> None:
        """Hold commands that met a LiveEngage outage until their retry is due, then send them back."""
        await dead_letters.consume(stream, release_when_due)

    async def release_when_due(event: EventT[bytes]) -> None:
        command = decode(COMMAND, event)
        # Retries of one partition leave in order; a later one never overtakes an earlier one of its consumer.
        wait = (command["due_at"] - datetime.now(timezone.utc)).total_seconds() if command["due_at"] else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
        await publish(topics.liveengage_commands, key_of(event), COMMAND.encode(command))
