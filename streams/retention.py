"""What the worker forgets, and when: state retention and erasure (README, "State retention").

A consumer's state (their conversation state, recent deliveries and offered choices, their routes and the events
seen in those conversations, their LiveEngage identity) is kept while it may still be needed: while a conversation
is open, queued or retrying, and for ``LEC_STATE_RETENTION_S`` after their last activity once it is closed, so that
late agent events, receipts and survey answers still find it. After that it is deleted from every table, which
writes a tombstone to each table's changelog: compaction then removes it from Kafka too. A consumer who comes back
simply opens a new conversation. An opt-out is kept past retention (it is the consumer's consent, not activity);
an erasure (``python -m streams erase``) forgets it too.

An open conversation never expires by age: LiveEngage closes it (auto-close) and its close starts the clock.

Every table has one writer (the agent of its key's topic), and a table write must happen while that agent handles a
record. So the periodic sweep only reads: for each expired consumer it sends an EXPIRE command down the consumer's
own commands topic, where the sender checks again, in order with the consumer's other commands, that the state is
still expired, and deletes it. What the sender cannot delete itself (routes, identities: other keys, other agents)
it asks for on those agents' topics: a route record marked ``forgotten``, an identity record with
``forget_before``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from schemas import topics as catalogue
from schemas.codec import codec
from streams.conversation import Status
from streams.engine.faust_internals import rocksdb_databases
from streams.engine.topics import Topics, publish
from streams.metrics import STATE_FORGOTTEN
from streams.optout import OptOuts
from streams.state import RecentIds, RecordTable

logger = logging.getLogger(__name__)
ROUTE = codec("ConversationRoute")
COMMAND = codec("LiveEngageCommand")
IDENTITY = codec("ConsumerIdentity")
SWEEP_YIELD_EVERY = 500  # keys read between two yields to the event loop: the sweep never holds up records
SWEEP_IN_FLIGHT = 500  # forget requests sent before their acknowledgements are awaited together
# Consumers forgotten after which the RocksDB tables are compacted: RocksDB keeps every deleted value beside its
# tombstone until a compaction reaches them, and a small table's files may wait long for one, so the worker's
# volume would not shrink with its tables.
COMPACT_AFTER_FORGOTTEN = 10_000


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def is_expired(state: dict[str, Any], cutoff: datetime) -> bool:
    """Whether a conversation state may be forgotten: closed, nothing waiting, idle since before ``cutoff``. Pure."""
    return state["status"] == Status.CLOSED.value and not state["pending"] and not state["retrying"] \
        and state["updated_at"] < cutoff


def stale_routes(routes: dict[str, int], cutoff: datetime) -> list[str]:
    """The routed conversation and dialog ids whose conversation closed before ``cutoff`` (0: still open). Pure."""
    limit = epoch_ms(cutoff)
    return [key for key, closed_at in routes.items() if 0 < closed_at < limit]


def routed_ids(state: dict[str, Any]) -> set[str]:
    """Every conversation and dialog id routed to this consumer that the state knows of (states written before
    ``routes`` existed name only their current and last conversation). Pure."""
    ids = {*state["routes"], state["conversation_id"], state["last_conversation_id"], state["dialog_id"]}
    return {id_ for id_ in ids if id_}


def identity_forgotten(known: dict[str, Any] | None, forget_before: datetime) -> bool:
    """Whether a request to forget an identity applies: it was not announced again since the request. Pure."""
    return known is not None and (known["seen_at"] is None or known["seen_at"] < forget_before)


def identity_unmatched_since(identity: dict[str, Any]) -> datetime | None:
    """When an identity that never matched a channel consumer was last heard of (an account-wide notification of
    a conversation this connector had nothing to do with); ``None`` for a matched identity, which is forgotten
    with its consumer. Pure."""
    if identity["channel_id"] is not None:
        return None
    if identity["seen_at"] is not None:
        return identity["seen_at"]  # type: ignore[no-any-return]
    change = identity["change"]
    updated = change["updated_at"] if change is not None else 0
    return datetime.fromtimestamp(updated / 1000, timezone.utc)


class ExpiryBacklog:
    """The EXPIRE requests this worker's sweep sent that its sender has not handled yet. A sweep finds every
    consumer still in a table, requested or not, so while requests are outstanding the next sweep waits for them:
    a backlog that takes longer than the interval (the first sweep over a large table) is not asked for again."""

    def __init__(self) -> None:
        self.outstanding = 0
        self._owned: set[int] = set()
        self._at_last_sweep = 0

    def requested(self, count: int, owned: set[int]) -> None:
        self.outstanding += count
        self._owned = owned

    def handled(self) -> None:
        self.outstanding = max(0, self.outstanding - 1)

    def waits(self, owned: set[int]) -> bool:
        """Whether a sweep should wait. Partitions that moved (a rebalance) took their requests elsewhere, and a
        count that did not move since the last sweep lost some (dead-lettered requests): both start afresh."""
        if owned != self._owned or self.outstanding == self._at_last_sweep:
            self.outstanding = 0
        self._at_last_sweep = self.outstanding
        return self.outstanding > 0


class Forgetting:
    """Deletes a consumer's state from the tables keyed by consumer, and asks the routes and identities agents to
    forget the rest. Called by the sender while it handles the consumer's EXPIRE or ERASE command."""

    def __init__(self, topics: Topics, choices: RecordTable, delivered: RecentIds, opt_outs: OptOuts,
                 backlog: ExpiryBacklog) -> None:
        self.backlog = backlog
        self._topics = topics
        self._choices = choices
        self._delivered = delivered
        self._opt_outs = opt_outs

    async def consumer(self, key: str, state: dict[str, Any] | None, *, erase: bool) -> None:
        """Forget the consumer ``key`` whose conversation state (already deleted by the caller) was ``state``."""
        self._choices.delete(key)
        self._delivered.forget(key)
        if erase:
            self._opt_outs.forget(key)
        if state is not None:
            # Sent together: the sender commits its command's offset only once all of them are acknowledged.
            identity = [] if state["lp_consumer_id"] is None else [
                forget_identity(self._topics, state["lp_consumer_id"], state["account_id"])]
            await asyncio.gather(self.routes(state, routed_ids(state)), *identity)
        STATE_FORGOTTEN.labels("erased" if erase else "expired").inc()

    async def routes(self, state: dict[str, Any], ids: Iterable[str]) -> None:
        """Have the routes of ``ids`` forgotten, with the events seen in their conversations."""
        await asyncio.gather(*(forget_route(self._topics, state, id_) for id_ in sorted(ids)))


async def forget_route(topics: Topics, state: dict[str, Any], conversation_id: str) -> None:
    route = {"conversation_id": conversation_id, "account_id": state["account_id"], "channel_id": state["channel_id"],
             "consumer_id": state["consumer_id"], "opened_at": datetime.now(timezone.utc), "forgotten": True}
    await publish(topics.conversation_routes, conversation_id, ROUTE.encode(route))


async def forget_identity(topics: Topics, lp_consumer_id: str, account_id: str) -> None:
    request = {"lp_consumer_id": lp_consumer_id, "account_id": account_id, "channel_id": None, "consumer_id": None,
               "change": None, "seen_at": None, "forget_before": datetime.now(timezone.utc)}
    await publish(topics.consumer_identities, lp_consumer_id, IDENTITY.encode(request))


def forget_command(account_id: str, channel_id: str, consumer_id: str, action: str) -> dict[str, Any]:
    """The LiveEngageCommand that has the sender forget one consumer: EXPIRE (the sweep) or ERASE (on request)."""
    created = datetime.now(timezone.utc)
    return {"command_id": f"{action.lower()}@{epoch_ms(created)}", "account_id": account_id,
            "channel_id": channel_id, "consumer_id": consumer_id, "action": action, "created_at": created}


async def flush_when_full(requests: list[Awaitable[None]], at: int = SWEEP_IN_FLIGHT) -> int:
    """Send ``requests`` together once there are ``at`` of them; the number sent (0 if they wait for more)."""
    if len(requests) < at:
        return 0
    await asyncio.gather(*requests)
    count = len(requests)
    requests.clear()
    return count


def partition_of(key: str, partitions: int) -> int:
    """The partition the producers' default partitioner gives ``key`` (the worker's own records land there)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Sweep:
    """Every ``LEC_STATE_SWEEP_INTERVAL_S``, looks through the conversations and identities this worker owns for
    state past retention and asks for it to be forgotten (module doc). Only reads the tables (and compacts their
    RocksDB files once a large expiry is handled)."""

    def __init__(self, app: faust.App, topics: Topics, conversations: RecordTable, identities: RecordTable,
                 retention_s: float, partitions: int, backlog: ExpiryBacklog, tables: Iterable[Any] = ()) -> None:
        self._app = app
        self._backlog = backlog
        self._tables = list(tables)  # Faust tables, compacted after a large expiry (RocksDB store only)
        self._forgotten_since_compaction = 0
        self._topics = topics
        self._conversations = conversations
        self._identities = identities
        self._retention = timedelta(seconds=retention_s)
        self._partitions = partitions

    def _owned(self, topic: str) -> set[int]:
        """The partitions of ``topic`` this worker handles now (not those it keeps as a standby)."""
        return {tp.partition for tp in self._app.assignor.assigned_actives() if tp.topic == topic}

    async def run(self) -> int:
        """One sweep; the number of forget requests sent."""
        if self._app.rebalancing:
            return 0  # the partitions are moving: the next sweep finds them where they land
        owned = self._owned(catalogue.LIVEENGAGE_COMMANDS.name)
        if self._backlog.waits(owned):
            logger.info("state retention: %d consumers asked to be forgotten are still queued; sweeping after them",
                        self._backlog.outstanding)
            return 0
        if self._forgotten_since_compaction >= COMPACT_AFTER_FORGOTTEN:  # the requests sent are handled now
            await self._compact()
        cutoff = datetime.now(timezone.utc) - self._retention
        # The sweep commits no offset, so its requests need not be acknowledged one by one: they are sent in
        # batches, whose acknowledgements are awaited together (one round trip per batch, not per consumer).
        requests: list[Awaitable[None]] = []
        sent = 0
        for index, (key, state) in enumerate(self._conversations.scan()):
            if index % SWEEP_YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if partition_of(key, self._partitions) in owned and is_expired(state, cutoff):
                requests.append(publish(self._topics.liveengage_commands, key, COMMAND.encode(forget_command(
                    state["account_id"], state["channel_id"], state["consumer_id"], "EXPIRE"))))
                self._backlog.requested(1, owned)  # counted before it is sent: the sender may handle it at once
                sent += await flush_when_full(requests)
        owned = self._owned(catalogue.CONSUMER_IDENTITIES.name)
        for index, (key, identity) in enumerate(self._identities.scan()):
            if index % SWEEP_YIELD_EVERY == 0:
                await asyncio.sleep(0)
            since = identity_unmatched_since(identity)
            if since is not None and since < cutoff and partition_of(key, self._partitions) in owned:
                requests.append(forget_identity(self._topics, key, identity["account_id"]))
                sent += await flush_when_full(requests)
        sent += await flush_when_full(requests, at=1)
        self._forgotten_since_compaction += sent
        if sent:
            logger.info("state retention: %d consumers and identities past %s asked to be forgotten", sent,
                        self._retention)
        return sent

    async def _compact(self) -> None:
        """Compact the tables' RocksDB databases, each in a thread (RocksDB releases the GIL meanwhile), so that
        what was forgotten leaves the worker's volume, not only its tables."""
        started, forgotten = time.monotonic(), self._forgotten_since_compaction
        databases = [database for table in self._tables for database in rocksdb_databases(table)]
        for database in databases:
            await asyncio.to_thread(database.compact_range, None, None)
        self._forgotten_since_compaction = 0
        if databases:
            logger.info("state retention: %d RocksDB databases compacted in %.1fs after %d consumers and identities "
                        "were forgotten", len(databases), time.monotonic() - started, forgotten)
