"""Matches LiveEngage consumers to channel consumers, for conversations the connector did not open.

LiveEngage allows one open conversation per consumer. When one is open that this connector did not open (an
agent resumed or started it, another channel opened it, or the connector lost track), its notifications carry
only the LiveEngage consumer id. The sender announces each consumer's identity (lp_consumer_id → channel and
consumer) and ``route_agent_events`` announces conversation changes that have no route; both are keyed by
lp_consumer_id, so ``match_identities`` sees them together. Once both are known it publishes the
conversation's route and hands the newest open change to the consumer's sender, which adopts the conversation
(unless its state knows better) and sends the texts it had queued.

Requests to forget an identity (``streams.retention``) come the same way; one announced again since the request
is kept.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.codec import codec
from schemas.topics import consumer_key
from streams.conversation import is_over
from streams.engine.deadletters import DeadLetters
from streams.records import decode, key_of
from streams.retention import identity_forgotten
from streams.state import RecordTable
from streams.engine.topics import Topics, publish

IDENTITY = codec("ConsumerIdentity")
ROUTE = codec("ConversationRoute")
COMMAND = codec("LiveEngageCommand")


def merged(known: dict[str, Any] | None, news: dict[str, Any]) -> dict[str, Any]:
    """The identity after ``news``: who the consumer is, and their newest unrouted conversation change. Pure."""
    if known is None:
        return news
    newest = known["change"]
    if news["change"] is not None and (newest is None or news["change"]["updated_at"] >= newest["updated_at"]):
        newest = news["change"]
    return known | {"channel_id": news["channel_id"] or known["channel_id"],
                    "consumer_id": news["consumer_id"] or known["consumer_id"], "change": newest}


def install(app: faust.App, topics: Topics, identities: RecordTable, dead_letters: DeadLetters) -> None:
    """Register this flow's agent on ``app``."""

    @app.agent(topics.consumer_identities, name="match_identities")
    async def match_identities(stream: StreamT[bytes]) -> None:
        """Route conversations the connector did not open to the consumer LiveEngage opened them for."""
        await dead_letters.consume(stream, match)

    async def match(event: EventT[bytes]) -> None:
        key = key_of(event)
        news = decode(IDENTITY, event)
        if news["forget_before"] is not None:  # state retention or erasure (streams.retention)
            if identity_forgotten(identities.get(key), news["forget_before"]):
                identities.delete(key)
            return
        identity = merged(identities.get(key), news) | {"seen_at": datetime.now(timezone.utc)}
        identities.put(key, identity)
        change = identity["change"]
        if change is None or is_over(change) or identity["channel_id"] is None \
                or identity["consumer_id"] is None:
            return
        conversation_id = change["conversation_id"]
        route = {"conversation_id": conversation_id, "account_id": identity["account_id"],
                 "channel_id": identity["channel_id"], "consumer_id": identity["consumer_id"],
                 "opened_at": datetime.now(timezone.utc)}
        await publish(topics.conversation_routes, conversation_id, ROUTE.encode(route))
        command = {"command_id": f"{conversation_id}@{change['updated_at']}", "account_id": identity["account_id"],
                   "channel_id": identity["channel_id"], "consumer_id": identity["consumer_id"],
                   "action": "APPLY_CHANGE", "created_at": datetime.now(timezone.utc), "change": change}
        # Forwarded on every announcement, not once: a consumer whose texts wait for this conversation announces
        # itself again, and the sender ignores a change it already applied or that is older than its state.
        await publish(topics.liveengage_commands, consumer_key(identity["channel_id"], identity["consumer_id"]),
                      COMMAND.encode(command))
