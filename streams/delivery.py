"""Channel delivery: ``deliver_to_channel`` posts messages for consumers to their gateway, in the channel's format.

Before each send it consults the opt-out list (a consumer who texted STOP gets nothing: LiveEngage hears NACK,
the agent an automatic note once); after it, it remembers the delivery (replays are no-ops), the numbered
choices it offered (so a numbered reply maps back) and writes the analytics event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from streams.analytics import Analytics, since_ms
from streams.channels import ChannelClient
from streams.engine.deadletters import DeadLetters
from streams.errors import ConsumerOptedOutError
from streams.optout import OptOuts
from streams.records import decode, key_of
from streams.retry import with_retries
from streams.settings import WorkerSettings
from streams.state import RecentIds, RecordTable
from streams.engine.topics import Topics, publish

logger = logging.getLogger(__name__)
OUTBOUND = codec("ChannelOutbound")
COMMAND = codec("LiveEngageCommand")


def install(app: faust.App, topics: Topics, delivered: RecentIds, choices: RecordTable, opt_outs: OptOuts,
            dead_letters: DeadLetters, channels: ChannelClient, analytics: Analytics,
            settings: WorkerSettings) -> None:
    """Register this flow's agent on ``app``."""

    @app.agent(topics.channel_outbound, name="deliver_to_channel")
    async def deliver_to_channel(stream: StreamT[bytes]) -> None:
        """Deliver messages for consumers to their channel gateway."""
        await dead_letters.consume(stream, deliver)

    async def deliver(event: EventT[bytes]) -> None:
        key, message = key_of(event), decode(OUTBOUND, event)
        if delivered.seen(key, message["message_id"]):
            return  # a replay of a delivery the gateway already acknowledged
        if key in opt_outs and message["notice"] != "help":  # a HELP answer goes even to the opted out
            await held_back(key, message)
        else:
            try:
                sent = await with_retries(lambda: channels.deliver(message), attempts=settings.send_attempts,
                                          base_delay_s=settings.retry_base_delay_s, what="channel delivery")
            except ConsumerOptedOutError:  # opted out at the gateway before the connector heard of it
                opt_outs.opt_out(key)
                await held_back(key, message)
            else:
                await delivered_now(key, message, sent)
        delivered.add(key, message["message_id"])

    async def delivered_now(key: str, message: dict[str, Any], sent: int) -> None:
        if message["kind"] == "TEXT" and sent:
            channel = settings.channels.get(message["channel_id"])
            await analytics.record("AGENT_MESSAGE", event_id=message["message_id"],
                                   conversation_id=message["conversation_id"],
                                   account_id=channel.account_id if channel else "", channel_id=message["channel_id"],
                                   consumer_id=message["consumer_id"], content_type="text/plain",
                                   text=message["text"], latency_ms=since_ms(message["created_at"]))
        if message["choices"]:
            choices.put(key, {"message_id": message["message_id"], "choices": message["choices"],
                              "metadata": message["choice_metadata"]})

    async def held_back(key: str, message: dict[str, Any]) -> None:
        """An agent text for an opted-out consumer: NACK it in LiveEngage, and tell the agent once."""
        if message["kind"] != "TEXT":
            return  # notices, receipts and typing are dropped without a word
        logger.info("held back a message of conversation %s: the consumer opted out", message["conversation_id"])
        channel = settings.channels[message["channel_id"]]
        base = {"account_id": channel.account_id, "channel_id": message["channel_id"],
                "consumer_id": message["consumer_id"], "created_at": datetime.now(timezone.utc)}
        await publish(topics.liveengage_commands, key, COMMAND.encode(base | {
            "command_id": f"{message['message_id']}:nack", "action": "ACCEPT_STATUS", "accept_status": "NACK",
            "message_ids": [message["message_id"]]}))
        if channel.opted_out_notice and opt_outs.first_blocked(key):
            await publish(topics.liveengage_commands, key, COMMAND.encode(base | {
                "command_id": f"{message['message_id']}:opted-out", "action": "PUBLISH_TEXT",
                "text": channel.opted_out_notice}))
