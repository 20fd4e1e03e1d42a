"""Dead letters: a record the worker could not process goes to its source topic's ``.dlq`` twin, with context."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn
from datetime import datetime, timezone

import faust
from aiokafka.errors import KafkaError
from faust.streams import _current_event as _current_event_contextvar
from faust.types import EventT, StreamT

from kafkaclients import KafkaConnection
from schemas import topics as catalogue
from schemas.codec import codec

from streams import metrics
from streams.commits import CommitKeeper
from streams.errors import RecordError, UnexpectedError
from streams.topics import as_faust_topic, publish, publish_patience

logger = logging.getLogger(__name__)
KAFKA_FAILURE_EXIT = 70
IN_FLIGHT_GRACE_S = 30.0  # longest wait, when stopping, for the record being handled to finish
STUCK_CHECK_S = 3.0  # how often, and after how long idle, a partition is checked for undelivered records


class HandledOnlyEvent(faust.Event):
    """An event that Faust acks only once ``DeadLetters.consume`` is done with it.

    Faust skips the events its streams dequeue while its flow control is suspended (while stopping or
    rebalancing) and acks them as if processed, so the next commit would pass over records never carried out.
    Such an event is left unacked here, and dropped from the set Faust waits on when stopping: it is consumed
    again after the restart or rebalance, which seek to the committed offsets.
    """

    handled = False

    def ack(self) -> bool:
        if self.handled:
            return bool(super().ack())
        logger.info("Faust skipped %s[%d]@%d without handling it (stopping or rebalancing): not acked",
                    self.message.topic, self.message.partition, self.message.offset)
        self.app.consumer.unacked.discard(self.message)
        return False


def _mark_handled(event: EventT[bytes]) -> None:
    if isinstance(event, HandledOnlyEvent):
        event.handled = True


class DeadLetters:
    """Writes DeadLetter records keyed like the original, and waits for Kafka's acknowledgement."""

    def __init__(self, app: faust.App, connection: KafkaConnection) -> None:
        self._app = app
        self._topics = {spec.name: as_faust_topic(app, spec.dead_letters) for spec in catalogue.SOURCES}
        self._codec = codec("DeadLetter")
        self._commits = CommitKeeper(app, connection)
        self._handlers: dict[str, Callable[[EventT[bytes]], Awaitable[None]]] = {}
        self._partition_locks: dict[Any, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def consume(self, stream: StreamT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        """Run ``handle`` on every event of ``stream`` in order, and never let Faust ack an event silently.

        Faust acks the event being handled when the stream is closed, even if its handling was cancelled (a
        SIGTERM stops the agents by cancelling them), and acks events it skipped: either would commit a record
        never carried out. So each record is handled in a task of its own, shielded from the cancellation (a
        stopping worker waits for it), and only events marked handled are acked (``HandledOnlyEvent``).

        An event whose handling raised ``RecordError`` (bad data, a refusal) is dead-lettered and the loop goes
        on. A bug (any other exception) is logged with its traceback and dead-lettered too, so the record can be
        replayed once fixed. When Kafka itself fails (publishing a result or the dead letter), the process
        exits at once without committing, so the event is consumed again after the restart.
        """
        for topic in getattr(stream.channel, "topics", ()):
            self._handlers[topic] = handle
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_stuck_partitions())
        async for event in stream.events():
            async with self._lock(event.message.tp):
                try:
                    due = await self._commits.admit(event)
                except KafkaError as exc:
                    self._missing_unreadable(event.message.tp, exc)
                if not due:
                    _mark_handled(event)  # already handled (see CommitKeeper): let Faust forget it
                for record in due:
                    await self._carry_out(record, handle)

    def backlog(self) -> dict[Any, int]:
        """Records waiting per assigned partition (see ``CommitKeeper.backlog``)."""
        return self._commits.backlog()

    def _lock(self, tp: Any) -> asyncio.Lock:
        return self._partition_locks.setdefault(tp, asyncio.Lock())

    async def _sweep_stuck_partitions(self) -> None:
        """Every few seconds, handle records Faust fetched but never delivered (see ``CommitKeeper.stuck``)."""
        while True:
            await asyncio.sleep(STUCK_CHECK_S)
            try:
                stuck = await self._commits.stuck(set(self._handlers), idle_s=STUCK_CHECK_S)
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
                    for record in due:
                        if not self._commits.steady(record.message.generation_id):
                            self._commits.put_back(record)  # Faust rebalances: the next generation reads it
                            logger.info("stopped handling undelivered records of %s[%d] at %d: Faust is "
                                        "rebalancing or recovering", tp.topic, tp.partition, record.message.offset)
                            break
                        # Faust's tables find the changelog partition through the event being processed;
                        # outside the stream loop that has to be this record (the partition is the same).
                        _current_event_contextvar.set(weakref.ref(record))
                        await self._carry_out(record, handle)

    @staticmethod
    def _missing_unreadable(tp: Any, exc: Exception) -> NoReturn:
        logger.critical("records missing in %s[%d] could not be read (%s): exiting without committing",
                        tp.topic, tp.partition, exc.__class__.__name__)
        os._exit(KAFKA_FAILURE_EXIT)

    async def _carry_out(self, event: EventT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        handling = asyncio.ensure_future(self._handle(event, handle))
        try:
            await asyncio.shield(handling)
        except asyncio.CancelledError:
            # The worker is stopping (SIGTERM): let the record in flight finish its send and its state, so
            # that it is neither half done nor done twice after the restart.
            await asyncio.wait([handling], timeout=IN_FLIGHT_GRACE_S)
            if not handling.done():
                logger.critical("stopping with %s[%d]@%d still in flight: exiting without committing it",
                                event.message.topic, event.message.partition, event.message.offset)
                os._exit(KAFKA_FAILURE_EXIT)
            await self._finish(event)
            raise
        await self._finish(event)

    async def _finish(self, event: EventT[bytes]) -> None:
        """The record is done: once Kafka has acknowledged its table writes, let Faust ack it."""
        message = event.message
        await self.table_writes_acknowledged(f"{message.topic}[{message.partition}]@{message.offset}")
        self._commits.finished(event)
        _mark_handled(event)

    async def table_writes_acknowledged(self, what: str) -> None:
        """Wait until Kafka has acknowledged the table writes made so far (those of ``what``).

        The next record's send must not start before this record's ledger entry (and the commands queued in its
        state) is durable: a crash would otherwise repeat more than the one send in flight. Waiting here, and
        not in a commit per record, also lets the worker commit every ``commit_every`` records: a replay after a
        crash finds every record it repeats in the ledgers. Faust writes changelogs through a buffer whose flush
        gives up after 0.1 s without a message sent (under load, it does), so the buffer is emptied first, then
        the Kafka client's own flush waits for the acknowledgements.
        """
        buffer = self._app.producer.buffer
        deadline = time.monotonic() + publish_patience()
        try:
            while buffer.size:
                if time.monotonic() > deadline:
                    raise TimeoutError
                await buffer.flush()
            await asyncio.wait_for(self._app.producer.flush(), max(deadline - time.monotonic(), 0.1))
        except (RuntimeError, TimeoutError, KafkaError) as exc:  # RuntimeError: Faust's "Producer not Running"
            logger.critical("table writes of %s not acknowledged within %.0fs (%s): exiting without committing",
                            what, publish_patience(), exc.__class__.__name__)
            os._exit(KAFKA_FAILURE_EXIT)

    async def _handle(self, event: EventT[bytes], handle: Callable[[EventT[bytes]], Awaitable[None]]) -> None:
        outcome = "carried_out"
        try:
            try:
                await handle(event)
            except RecordError as exc:
                await self.send(event, exc)
                outcome = "dead_lettered"
            except KafkaError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the record
                logger.exception("unexpected error on %s[%d]@%d", event.message.topic, event.message.partition,
                                 event.message.offset)
                await self.send(event, UnexpectedError(f"{exc.__class__.__name__}: {exc}"))
                outcome = "dead_lettered"
            metrics.RECORDS.labels(event.message.topic, outcome).inc()
        except KafkaError as exc:
            logger.critical("Kafka failed while handling %s[%d]@%d (%s): exiting without committing it",
                            event.message.topic, event.message.partition, event.message.offset,
                            exc.__class__.__name__)
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
