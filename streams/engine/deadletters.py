"""Dead letters: a record the worker could not process goes to its source topic's ``.dlq`` twin, with context."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, NoReturn
from datetime import datetime, timezone

import faust
from aiokafka.errors import KafkaError
from faust.types import EventT, StreamT

from kafkaclients import KafkaConnection
from schemas import topics as catalogue
from schemas.codec import codec
from schemas.registry import RegistryUnavailable

from streams import metrics
from streams.engine.commits import CommitKeeper
from streams.engine.durability import Durability
from streams.engine.faust_internals import (commit_and_leave_group, forget_unacked, hand_over_before_tables_close,
                                            refetch_what_a_fetch_cannot_deliver, set_current_event,
                                            shorten_fetch_wait)
from streams.errors import RecordError, UnexpectedError
from streams.engine.lanes import Lanes
from streams.engine.topics import as_faust_topic, publish, publish_patience
from telemetry import logs

logger = logging.getLogger(__name__)
KAFKA_FAILURE_EXIT = 70
IN_FLIGHT_GRACE_S = 30.0  # longest wait, when stopping, for the records in flight to finish
HAND_OVER_TIMEOUT_S = 10.0  # a commit and a LeaveGroup, both quick; past this, the stop goes on without them
STUCK_CHECK_S = 3.0  # how often, and after how long idle, a partition is checked for undelivered records


class HandledOnlyEvent(faust.Event):
    """An event that Faust acks only once ``DeadLetters`` is done with it.

    Faust acks each event as its stream moves on to the next one, and acks the events its streams skip while
    flow control is suspended (while stopping or rebalancing) as if processed: either would let a commit pass
    over a record never carried out. An event handed to its lane is acked by the lane when done, and stays in
    the set of messages Faust waits for before releasing partitions, so a rebalance waits for the lanes. A
    skipped event is left unacked and dropped from that set: it is consumed again after the restart or
    rebalance, which seek to the committed offsets.
    """

    handled = False
    in_lane = False

    def ack(self) -> bool:
        if self.handled:
            return bool(super().ack())
        if self.in_lane:
            return False  # its lane acks it once it is carried out
        logger.info("Faust skipped %s[%d]@%d without handling it (stopping or rebalancing): not acked",
                    self.message.topic, self.message.partition, self.message.offset)
        forget_unacked(self.app, self.message)
        return False


def _mark_handled(event: EventT[bytes]) -> None:
    if isinstance(event, HandledOnlyEvent):
        event.handled = True


def _in_lane(event: EventT[bytes], in_lane: bool) -> None:
    if isinstance(event, HandledOnlyEvent):
        event.in_lane = in_lane


def _lane_of(event: EventT[bytes]) -> Hashable:
    """Records of one key share a lane; a record without a key (dead-lettered) gets its partition's."""
    key = event.message.key
    return key if key is not None else ("partition", event.message.partition)


def dead_letter_error(exc: Exception, what: str) -> RecordError:
    """What a record (or a command queued in the state) is dead-lettered with when its handling raised ``exc``;
    a failure of Kafka or of the Schema Registry is raised again: the record is fine, the worker must stop."""
    if isinstance(exc, RecordError):
        return exc
    if isinstance(exc, (KafkaError, RegistryUnavailable)):
        raise exc
    logger.error("unexpected error on %s", what, exc_info=exc)  # a bug: its traceback, and the record kept
    return UnexpectedError(f"{exc.__class__.__name__}: {exc}")


class DeadLetters:
    """Writes DeadLetter records keyed like the original, and waits for Kafka's acknowledgement."""

    def __init__(self, app: faust.App, connection: KafkaConnection, in_flight: int = 1) -> None:
        self._app = app
        self._in_flight = in_flight
        self._durability = Durability(app)
        self._lanes: dict[str, Lanes] = {}
        self._left: dict[Hashable, int | None] = {}  # per lane, the generation whose records it leaves
        app.on_before_shutdown.connect(self._drain_before_shutdown)
        hand_over_before_tables_close(app, self._hand_over)
        app.on_partitions_revoked.connect(self._drain_before_revocation)
        self._topics = {spec.name: as_faust_topic(app, spec.dead_letters) for spec in catalogue.SOURCES}
        self._codec = codec("DeadLetter")
        self._commits = CommitKeeper(app, connection)
        shorten_fetch_wait(app)  # records reach the lanes within milliseconds of their arrival in Kafka
        refetch_what_a_fetch_cannot_deliver(app)  # a rebalance loses no fetched record, a changelog's neither
        self._handlers: dict[str, Callable[[EventT[bytes]], Awaitable[None]]] = {}
        self._partition_locks: dict[Any, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def consume(self, stream: StreamT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        """Run ``handle`` on every event of ``stream``, in order per key, and never let Faust ack an event silently.

        Records of different keys are handled concurrently in lanes (``streams.engine.lanes``), at most ``in_flight``
        at a time; a record's lane acks it once it is carried out and Kafka acknowledged its table writes, and
        the offsets committed never pass a record not yet done (``CommitKeeper``). A stopping worker (SIGTERM
        cancels the agents) waits for the records in flight; a record whose turn comes while Faust rebalances is
        left for the partition's next owner.

        An event whose handling raised ``RecordError`` (bad data, a refusal) is dead-lettered and the loop goes
        on. A bug (any other exception) is logged with its traceback and dead-lettered too, so the record can be
        replayed once fixed. When Kafka itself fails (publishing a result or the dead letter), the process
        exits at once without committing, so the event is consumed again after the restart.
        """
        lanes = Lanes(self._in_flight)
        for topic in getattr(stream.channel, "topics", ()):
            self._handlers[topic] = handle
            self._lanes[topic] = lanes
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_stuck_partitions())
        try:
            async for event in stream.events():
                async with self._lock(event.message.tp):
                    try:
                        due = await self._commits.admit(event)
                    except KafkaError as exc:
                        self._missing_unreadable(event.message.tp, exc)
                    if not due:
                        _mark_handled(event)  # already handled (see CommitKeeper): let Faust forget it
                    for record in due:
                        await self._dispatch(lanes, record, handle)
        except asyncio.CancelledError:
            await self._drain(lanes)
            raise

    async def _dispatch(self, lanes: Lanes, event: EventT[bytes],
                        handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        _in_lane(event, True)
        await lanes.submit(_lane_of(event), lambda: self._carry_out(event, handle))

    async def _drain(self, lanes: Lanes) -> None:
        """The worker is stopping (SIGTERM) or its partitions are moving (a rebalance): let the records in flight
        finish their sends and their state, so that none is half done, or done twice by the next owner. Those
        still waiting for their turn are left (``_carry_out``): Faust has suspended its flow of records."""
        if not await lanes.drain(IN_FLIGHT_GRACE_S):
            logger.critical("stopping with %d records still in flight after %.0fs: exiting without committing them",
                            lanes.in_flight(), IN_FLIGHT_GRACE_S)
            os._exit(KAFKA_FAILURE_EXIT)

    async def _drain_before_shutdown(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust's stop does not wait for the streams' records (its consumer already counts as stopping) and
        closes the HTTP client before it stops the agents. With partitions, ``_hand_over`` drained the lanes
        already, before the tables closed, and this finds them empty; this drain is for a stop in which Faust
        skipped that step (no partition held), once it has suspended its flow of records."""
        await self._drain_all()

    async def _hand_over(self) -> None:
        """A stopping worker (SIGTERM, a rolling upgrade): once its records in flight are done and their offsets
        committed, it leaves the group, so that the other workers take its partitions over while it closes its
        tables, instead of after. If that fails, or a rebalance is under way (a join then still in progress would
        hold the group up), the consumer leaves the group when it closes, as Faust has it."""
        await self._drain_all()
        if self._app.rebalancing:
            return
        try:
            await asyncio.wait_for(commit_and_leave_group(self._app), HAND_OVER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the stop must go on: Faust closes the tables and the consumer next
            logger.warning("could not leave the group before closing the tables (%s): leaving when the consumer "
                           "closes", exc.__class__.__name__)
        else:
            logger.info("leaving the group: the other workers take the partitions over")

    async def _drain_before_revocation(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust sends this once it has waited for the records it delivered, before the partitions move; the
        rebalance crash test saw records still sending then (and their sends repeated by the next owner). So
        the lanes' records in flight finish here too; those waiting for their turn are left (flow is suspended)."""
        running = sum(lanes.in_flight() for lanes in set(self._lanes.values()))
        if running:
            logger.info("partitions revoked with %d records still in the lanes: waiting for them", running)
        await self._drain_all()

    async def _drain_all(self) -> None:
        for lanes in set(self._lanes.values()):  # agents of several topics can share one
            await self._drain(lanes)

    def in_flight(self) -> dict[str, tuple[int, int]]:
        """Per source topic: records in flight, and keys they belong to (see ``streams.engine.lanes``)."""
        return {topic: (lanes.in_flight(), lanes.keys_in_flight()) for topic, lanes in self._lanes.items()}

    def backlog(self) -> dict[Any, int]:
        """Records waiting per assigned partition (see ``CommitKeeper.backlog``)."""
        return self._commits.backlog()

    def _lock(self, tp: Any) -> asyncio.Lock:
        return self._partition_locks.setdefault(tp, asyncio.Lock())

    async def _sweep_stuck_partitions(self) -> None:
        """Every few seconds, handle records Faust fetched but never delivered (see ``CommitKeeper.stuck``)."""
        while True:
            await asyncio.sleep(STUCK_CHECK_S)
            # Records of a topic whose lanes are all taken wait for a slot in the stream: none is missing.
            idle = {topic for topic in self._handlers if not self._lanes[topic].saturated()}
            try:
                stuck = await self._commits.stuck(idle, idle_s=STUCK_CHECK_S)
            except KafkaError as exc:  # Kafka unreachable for now: nothing can be read, look again later
                logger.warning("checking for undelivered records failed (%s); will look again",
                               exc.__class__.__name__)
                continue
            for tp in stuck:
                handle = self._handlers.get(tp.topic)
                if handle is None:
                    continue
                async with self._lock(tp):
                    try:
                        due = await self._commits.catch_up(tp)
                    except KafkaError as exc:
                        logger.warning("reading undelivered records of %s[%d] failed (%s); will look again",
                                       tp.topic, tp.partition, exc.__class__.__name__)
                        continue
                    for index, record in enumerate(due):
                        if not self._commits.steady(record.message.generation_id):
                            self._commits.put_back(due[index:])  # Faust rebalances: the next generation reads them
                            logger.info("stopped handling undelivered records of %s[%d] at %d: Faust is "
                                        "rebalancing or recovering", tp.topic, tp.partition, record.message.offset)
                            break
                        await self._dispatch(self._lanes[tp.topic], record, handle)

    @staticmethod
    def _missing_unreadable(tp: Any, exc: Exception) -> NoReturn:
        logger.critical("records missing in %s[%d] could not be read (%s): exiting without committing",
                        tp.topic, tp.partition, exc.__class__.__name__)
        os._exit(KAFKA_FAILURE_EXIT)

    async def _carry_out(self, event: EventT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        """One record's turn in its lane."""
        message = event.message
        lane = (message.topic, _lane_of(event))
        if self._commits.ending(message.generation_id) or self._left.get(lane) == message.generation_id:
            # Faust rebalances (or stops) and may give the partition to another worker: the record stays
            # uncommitted for the partition's next owner, and so do the ones behind it in this lane.
            logger.info("left %s[%d]@%d for the next consumer generation", message.topic, message.partition,
                        message.offset)
            self._left[lane] = message.generation_id
            _in_lane(event, False)
            forget_unacked(self._app, message)
            return
        self._left.pop(lane, None)
        set_current_event(event)  # the changelog partition of its table writes is the record's
        logs.handling(message.topic, message.partition, message.offset)  # this task's log records name it
        await self._handle(event, handle)
        await self._finish(event)

    async def _finish(self, event: EventT[bytes]) -> None:
        """The record is done: once Kafka has acknowledged its table writes, it may be committed."""
        message = event.message
        await self.table_writes_acknowledged(f"{message.topic}[{message.partition}]@{message.offset}")
        self._commits.finished(event)
        _mark_handled(event)
        _in_lane(event, False)
        event.ack()

    async def table_writes_acknowledged(self, what: str) -> None:
        """Wait until Kafka has acknowledged the table writes made so far (those of ``what``).

        The next record of a key must not start before this record's ledger entry (and the commands queued in
        its state) is durable: a crash would otherwise repeat more than the one send in flight. Waiting here,
        and not in a commit per record, also lets the worker commit every ``commit_every`` records: a replay
        after a crash finds every record it repeats in the ledgers. One flush serves every record waiting for
        one (``streams.engine.durability``).
        """
        try:
            await self._durability.acknowledged(publish_patience())
        except (RuntimeError, TimeoutError, KafkaError) as exc:  # RuntimeError: Faust's "Producer not Running"
            logger.critical("table writes of %s not acknowledged within %.0fs (%s): exiting without committing",
                            what, publish_patience(), exc.__class__.__name__)
            os._exit(KAFKA_FAILURE_EXIT)

    async def _handle(self, event: EventT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        outcome = "carried_out"
        try:
            try:
                await handle(event)
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the record
                message = event.message
                await self.send(event, dead_letter_error(exc, f"{message.topic}[{message.partition}]@{message.offset}"))
                outcome = "dead_lettered"
            metrics.RECORDS.labels(event.message.topic, outcome).inc()
        except (KafkaError, RegistryUnavailable) as exc:  # the record is fine: it is read again after a restart
            logger.critical("%s failed while handling %s[%d]@%d (%s): exiting without committing it",
                            "Kafka" if isinstance(exc, KafkaError) else "the Schema Registry", event.message.topic,
                            event.message.partition, event.message.offset, exc.__class__.__name__)
            os._exit(KAFKA_FAILURE_EXIT)

    async def send(self, event: EventT[bytes], error: RecordError) -> None:
        message = event.message
        key = message.key if isinstance(message.key, bytes) else None
        value = message.value if isinstance(message.value, bytes) else None
        await self.send_record(message.topic, key, value, error, partition=message.partition, offset=message.offset)

    async def send_record(self, topic: str, key: bytes | None, value: bytes | None, error: RecordError, *,
                          partition: int = -1, offset: int = -1) -> None:
        """Dead-letter one record; partition and offset are -1 for a record that was held in worker state."""
        record = {
            "source_topic": topic,
            "partition": partition,
            "offset": offset,
            "key": key,
            "value": value,
            "error_class": error.__class__.__name__,
            "reason": str(error)[:1000],
            "attempts": error.attempts,
            "failed_at": datetime.now(timezone.utc),
        }
        logger.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, error.__class__.__name__)
        metrics.DEAD_LETTERS.labels(topic, error.__class__.__name__).inc()
        headers = {"dlq.source.topic": topic, "dlq.source.partition": str(partition),
                   "dlq.source.offset": str(offset), "dlq.error.class": error.__class__.__name__,
                   "dlq.reason": str(record["reason"]), "dlq.attempts": str(error.attempts)}
        await publish(self._topics[topic], key, self._codec.encode(record),
                      headers={name: value.encode() for name, value in headers.items()})
