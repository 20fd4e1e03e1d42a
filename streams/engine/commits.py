"""Which offsets the worker may commit: the ones it carried out, in order, and no other.

Faust's own bookkeeping can commit over a record that never reached an agent. Its read offset means "next to read"
after a seek but "last read" after a record, so a record missing right after the committed position (dropped while
flow control was suspended, or fetched before a seek and arriving after it) looks like no gap at all, and the next
commit passes over it: a text accepted by the bridge and never sent. Its read offset also drops records below the
last one read, so records fetched again after a seek (its own, after a rebalance) can be dropped for good when an
older fetch is still being delivered. So the worker owns the decision, and Faust delivers every record it fetches:

- records of a partition are admitted strictly in offset order from the committed position (the log start when
  the group committed nothing there); when a record arrives past missing ones, those are read from Kafka directly
  and admitted first (records gone by retention are not waited for);
- a record that arrives again (a rebalance's seek, a Faust redelivery) is passed over as done;
- admitted records may finish out of order (records of different keys run in lanes: ``streams.engine.lanes``); the offset
  committed is the first one admitted and not finished (or the next to admit), never past a record not done, and
  never Faust's guess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TP, EventT
from faust.types.tuples import ConsumerMessage

from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from streams.engine.faust_internals import FAUST_DECIDES, commit_offsets

logger = logging.getLogger(__name__)
MISSING_READ_PATIENCE_S = 30.0
T = TypeVar("T")
CATCH_UP_MAX = 500  # records a stuck partition reads directly at once; Faust or the next check delivers the rest


@dataclass
class _Partition:
    """One partition's progress within one consumer generation."""

    generation: int | None
    next_offset: int  # the only offset that may be admitted next
    last_seen: float = 0.0  # monotonic time of the last record admitted
    pending: set[int] = field(default_factory=set)  # admitted, not finished (in a lane, or left for the next owner)


class CommitKeeper:
    """Admits records in order per partition and tells Faust how far to commit."""

    def __init__(self, app: faust.App, connection: KafkaConnection) -> None:
        self._app = app
        self._connection = connection
        self._partitions: dict[TP, _Partition] = {}
        # (generation, where each partition starts in it: the group's committed offset, or the log start)
        self._starts: tuple[int | None, dict[TP, int]] = (None, {})
        commit_offsets(app, self._offset_to_commit)

    async def admit(self, event: EventT[bytes]) -> list[EventT[bytes]]:
        """The records to handle now, in order: ``[event]`` when it is the next one of its partition; none for a
        record already handled in this generation (passed over); and for one that arrived past missing records,
        those records (read from Kafka directly) followed by ``event``. Raises ``KafkaError`` when the missing
        records cannot be read.
        """
        message = event.message
        tp, offset = message.tp, message.offset
        progress = self._partitions.get(tp)
        if progress is None or progress.generation != message.generation_id:
            progress = _Partition(message.generation_id, await self._start_of(tp, message.generation_id))
            self._partitions[tp] = progress
        if offset < progress.next_offset:
            logger.debug("%s[%d]@%d came again: already handled, passed over", tp.topic, tp.partition, offset)
            return []
        progress.last_seen = time.monotonic()
        missing: list[EventT[bytes]] = []
        if offset > progress.next_offset:
            logger.warning("%s[%d]@%d arrived before %d: reading offsets %d..%d from Kafka first", tp.topic,
                           tp.partition, offset, progress.next_offset, progress.next_offset, offset - 1)
            missing = await self._read_missing(tp, progress.next_offset, offset, message.generation_id)
        progress.next_offset = offset + 1
        progress.pending.update(record.message.offset for record in missing)
        progress.pending.add(offset)
        return [*missing, event]

    async def stuck(self, topics: set[str], idle_s: float) -> list[TP]:
        """Assigned partitions of ``topics`` with records in Kafka beyond the next one to handle, and none
        admitted for ``idle_s`` seconds.

        Faust can drop fetched records before they reach the stream (around a rebalance or a restart); when
        no later record follows, nothing else would reveal the gap until the partition gets new traffic.
        """
        consumer = self._app.consumer
        generation, now = self._app.consumer_generation_id, time.monotonic()
        found = []
        for tp in consumer.assignment():
            if tp.topic not in topics:
                continue
            high = self._highwater(tp)
            progress = self._partitions.get(tp)
            if progress is None or progress.generation != generation:
                if high is None:
                    continue
                # Nothing delivered yet in this generation: start where the group committed; idle from now.
                start = await self._start_of(tp, generation)
                if tp not in self._partitions or self._partitions[tp].generation != generation:  # not admitted since
                    self._partitions[tp] = _Partition(generation, start, last_seen=now)
                continue
            # A partition with records still in the lanes is busy, not stuck: under load its next records simply
            # wait their turn (reading them here too was seen to pull 200,000 records into memory at once).
            if now - progress.last_seen >= idle_s and high is not None and high > progress.next_offset \
                    and not progress.pending:
                found.append(tp)
        return found

    def steady(self, generation: int | None) -> bool:
        """Whether Faust runs its streams in ``generation``: not rebalancing, not recovering tables, flow control
        on. Records read directly are handled only then: while Faust rebalances or recovers, a table write
        would go to a changelog partition being recovered, and a blackhole or a session timeout ends a
        generation while its records are still being read."""
        app = self._app
        return bool(generation == app.consumer_generation_id and not app.rebalancing
                    and not app.in_recovery and app.flow_control.is_active())

    def ending(self, generation: int | None) -> bool:
        """Whether the consumer generation of a record is over or ending: Faust suspended its flow of records
        (a rebalance or a stop began) or already started the next generation. Unlike ``steady``, this never turns
        back to False for a generation: flow control resumes only in the next one."""
        app = self._app
        return generation != app.consumer_generation_id or not app.flow_control.is_active()

    def put_back(self, events: list[EventT[bytes]]) -> None:
        """Records read directly, in order, were not handed to a lane (Faust stopped being steady): the first
        is the next one again."""
        message = events[0].message
        progress = self._partitions.get(message.tp)
        if progress is not None and progress.generation == message.generation_id:
            progress.next_offset = min(progress.next_offset, message.offset)
            progress.pending.difference_update(event.message.offset for event in events)

    async def catch_up(self, tp: TP) -> list[EventT[bytes]]:
        """The next records of a stuck partition, up to its high watermark and at most ``CATCH_UP_MAX``, read
        directly; they become handled next."""
        progress = self._partitions[tp]
        high = self._highwater(tp)
        if high is None or high <= progress.next_offset or not self.steady(progress.generation):
            return []
        end = min(high, progress.next_offset + CATCH_UP_MAX)
        logger.warning("%s[%d]: records %d..%d fetched but not delivered: reading them from Kafka", tp.topic,
                       tp.partition, progress.next_offset, end - 1)
        records = await self._read_missing(tp, progress.next_offset, end, progress.generation)
        progress.last_seen = time.monotonic()
        if records:
            progress.next_offset = records[-1].message.offset + 1
            progress.pending.update(record.message.offset for record in records)
        return records

    def backlog(self) -> dict[TP, int]:
        """Records in Kafka not handled yet, per assigned partition this keeper has seen in this generation."""
        generation = self._app.consumer_generation_id
        waiting = {}
        for tp in self._app.consumer.assignment():
            progress, high = self._partitions.get(tp), self._highwater(tp)
            if progress is not None and progress.generation == generation and high is not None:
                waiting[tp] = max(high - progress.next_offset, 0)
        return waiting

    def _highwater(self, tp: TP) -> int | None:
        """The partition's high watermark as last fetched; None before any fetch."""
        try:
            high = self._app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - Faust raises when no fetch position is known yet
            return None
        return None if high is None else int(high)

    def finished(self, event: EventT[bytes]) -> None:
        """The admitted ``event`` is carried out, its table writes acknowledged by Kafka: it may be committed
        once every record admitted before it is too."""
        message = event.message
        progress = self._partitions.get(message.tp)
        if progress is not None and progress.generation == message.generation_id:
            progress.pending.discard(message.offset)

    async def _start_of(self, tp: TP, generation: int | None) -> int:
        """Where a new generation starts: the committed position, asked of the broker; with nothing committed,
        the partition's log start.

        Faust resumes the flow of records before its own seek has recorded the committed offsets, so its copy
        may still be empty when the first record of a generation arrives; and asking through Faust's consumer
        thread can block the thread's workers that fetch records (seen stalling every partition). So an admin
        client reads the group's committed offsets, once per generation. With nothing committed, the first
        record that arrives is not where to start: records before it can have been handled by a worker that
        died before its first commit, or skipped by Faust's stream while its flow was suspended. The log start
        is where the consumer's reset policy ("earliest") starts a new group anyway, and a replay of what was
        handled finds it in the ledgers.
        """
        if self._starts[0] != generation or tp not in self._starts[1]:
            committed = {each: offset for each, offset in (await self._group_offsets()).items() if offset >= 0}
            # The topic's other partitions are asked for at once: a new group would otherwise ask once each.
            topic = {each for each in self._app.consumer.assignment() if each.topic == tp.topic} | {tp}
            uncommitted = topic - committed.keys()
            log_starts = await self._log_starts(uncommitted) if uncommitted else {}
            if log_starts:
                logger.info("%s: nothing committed, starting at the log start: %s", tp.topic,
                            ", ".join(f"[{each.partition}]@{offset}" for each, offset in sorted(log_starts.items())))
            # Read again after the awaits: another topic's first record may have added its own meanwhile.
            known = self._starts[1] if self._starts[0] == generation else {}
            self._starts = (generation, {**known, **log_starts, **committed})
        return self._starts[1][tp]

    async def _group_offsets(self) -> dict[TP, int]:
        """The group's committed offsets."""
        async def ask(admin: Any) -> dict[TP, int]:
            offsets = await admin.list_consumer_group_offsets(self._app.conf.id)
            return {TP(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}

        return await self._asking_kafka(lambda: kafka.admin_client(self._connection), ask, "close")

    async def _log_starts(self, tps: set[TP]) -> dict[TP, int]:
        """The first offset each of ``tps`` still holds (retention deletes from the start)."""
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in tps]

        async def ask(reader: Any) -> dict[TP, int]:
            starts = await reader.beginning_offsets(partitions)
            return {TP(partition.topic, partition.partition): offset for partition, offset in starts.items()}

        return await self._asking_kafka(
            lambda: kafka.consumer(self._connection, group_id=None, enable_auto_commit=False), ask, "stop")

    @staticmethod
    async def _asking_kafka(new_client: Callable[[], Any], ask: Callable[[Any], Awaitable[T]], closing: str) -> T:
        """``ask`` a client of its own (started, then closed by its method ``closing``); Kafka errors are retried
        with a new client for ``MISSING_READ_PATIENCE_S``."""
        deadline = time.monotonic() + MISSING_READ_PATIENCE_S
        while True:
            client = new_client()
            try:
                await client.start()
                return await ask(client)
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
            finally:
                await getattr(client, closing)()
            await asyncio.sleep(1.0)

    async def _read_missing(self, tp: TP, first: int, end: int, generation: int | None) -> list[EventT[bytes]]:
        """Records ``first`` up to ``end`` (excluded) of ``tp``, read by a consumer of their own, as events.

        Faust's own consumer is not sought back: seeking it while it fetches was seen to stall every
        partition. Records gone by retention are simply not there (the reader starts at the log start).
        """
        reader = kafka.consumer(self._connection, group_id=None, enable_auto_commit=False,
                                  auto_offset_reset="earliest")
        await reader.start()
        try:
            partition = TopicPartition(tp.topic, tp.partition)
            reader.assign([partition])
            reader.seek(partition, first)
            records: list[Any] = []
            deadline = time.monotonic() + MISSING_READ_PATIENCE_S
            while not records or records[-1].offset < end - 1:
                if time.monotonic() > deadline:
                    raise KafkaError(f"{tp.topic}[{tp.partition}] offsets {first}..{end - 1} not read")
                batch = await reader.getmany(partition, timeout_ms=1000)
                fetched = batch.get(partition, [])
                records.extend(record for record in fetched if record.offset < end)
                if any(record.offset >= end for record in fetched):
                    break
        finally:
            await reader.stop()
        return [self._event(record, tp, generation) for record in records]

    def _event(self, record: Any, tp: TP, generation: int | None) -> EventT[bytes]:
        """A Faust event for a record read directly, shaped as the stream would have delivered it (string keys,
        as every topic is declared: ``streams.engine.topics.as_faust_topic``)."""
        key = record.key.decode() if record.key is not None else None
        message = ConsumerMessage(record.topic, record.partition, record.offset, record.timestamp / 1000.0,
                                  record.timestamp_type, list(record.headers or []), record.key, record.value,
                                  None, tp=tp, generation_id=generation)
        return self._app.conf.Event(self._app, key, record.value, message.headers, message)  # type: ignore

    def _committable(self, tp: TP) -> int | None:
        progress = self._partitions.get(tp)
        if progress is None:
            return None
        return min(progress.pending) if progress.pending else progress.next_offset

    def _offset_to_commit(self, tp: TP) -> object:
        return self._committable(tp) if tp in self._partitions else FAUST_DECIDES
