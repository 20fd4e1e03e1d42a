"""Every use the worker makes of Faust's internals, and only here.

The engine needs ten things Faust does not offer as API: deliver every fetched record (its read offsets drop
some), fetch again what a fetch cut by a rebalance cannot deliver, commit what the engine says (its acked lists can
pass over a record never carried out), tell a lane's task which record it works for (tables write to that record's
changelog partition), let a record leave the set Faust waits for before a rebalance, hand every table write to the
Kafka client before a flush, shorten the fetch wait, hand a stopping worker's partitions over before Faust closes
its tables, spare a rebalance the garbage collections of RocksDB databases it does not close, and reach a RocksDB
table's databases (to count keys without reading them all, and to compact them after a large expiry). Each is one
function below;
``tests/unit/test_faust_internals.py`` checks that the attributes they touch still exist with the shape relied on,
so a Faust upgrade that moves them fails there, by name, and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any


from faust.stores.rocksdb import Store as RocksDBStore
from faust.streams import _current_event
from faust.types import TP, AppT, EventT
from faust.types.tuples import Message

logger = logging.getLogger(__name__)

FAUST_DECIDES = object()  # from ``commit_offsets``' callback: not the engine's partition, Faust's own offset


def set_current_event(event: EventT[Any]) -> None:
    """Make ``event`` the record being processed in this task: Faust's tables find the changelog partition of a
    write through it, and a lane's task (or a record read directly) is not one Faust set it for."""
    _current_event.set(weakref.ref(event))


def forget_unacked(app: AppT, message: Message) -> None:
    """Drop ``message`` from the records Faust waits for before it releases partitions: it is left, not
    acked, for the partition's next owner (or this worker after its restart) to consume again."""
    app.consumer.unacked.discard(message)


async def flush_changelog_buffer(app: AppT, deadline: float) -> None:
    """Hand every table write Faust still holds in its producer buffer to the Kafka client.

    Faust's own flush of that buffer gives up after 0.1 s without a message sent (under load, it does), so it is
    repeated until the buffer is empty. An empty buffer is not enough: Faust's sender takes a write out of it
    before the Kafka client has it (the client's send waits while a batch is full or a partition's leader is
    unknown), and the client's flush would not wait for that write. So this also waits until the sender is back
    waiting for the next write. ``TimeoutError`` past ``deadline`` (monotonic)."""
    buffer: Any = app.producer.buffer  # a faust ProducerBuffer: its queue and its sender's event
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        if buffer.size:
            await buffer.flush()
            continue
        buffer.message_sent.clear()  # set by the sender once the write it holds is handed over
        if buffer.pending._getters or buffer.state != "running":  # the sender waits for a write, or is not there
            return
        await asyncio.wait_for(buffer.message_sent.wait(), max(deadline - time.monotonic(), 0.001))


def commit_offsets(app: Any, offset_to_commit: Callable[[TP], object]) -> None:
    """Have every consumer Faust creates deliver each record it fetches, and commit ``offset_to_commit(tp)``
    (``FAUST_DECIDES`` for a partition the engine does not track, None for nothing to commit yet).

    Faust's read offsets always read "none yet" (``_NothingReadYet``): its fetch loop then drops no record and
    marks no gap; records that come twice are the engine's to pass over.
    """
    faust_new_consumer = app._new_consumer  # a faust.App: its private factory of consumers

    def new_consumer() -> Any:
        consumer: Any = faust_new_consumer()
        consumer._read_offset = _NothingReadYet()
        faust_new_offset = consumer._new_offset

        def new_offset(tp: TP) -> int | None:
            offset = offset_to_commit(tp)
            if offset is FAUST_DECIDES:
                return faust_new_offset(tp)  # type: ignore[no-any-return]
            # Faust's acked lists only trigger commits here; emptied so that they do not grow.
            consumer._acked[tp].clear()
            consumer._acked_index[tp].clear()
            return offset  # type: ignore[return-value]

        consumer._new_offset = new_offset
        return consumer

    app._new_consumer = new_consumer


FETCH_MAX_WAIT_MS = 50


def shorten_fetch_wait(app: Any) -> None:
    """Have every consumer Faust creates wait at most ``FETCH_MAX_WAIT_MS`` for records in a fetch.

    Faust builds its aiokafka consumer with a fetch wait of 1.5 s (not a setting). aiokafka leaves a partition out
    of the next fetch while the records it last fetched are still being handled, so that fetch may ask only for
    idle partitions, which the broker holds for the whole wait: a partition's new records then waited up to 1.5 s
    at every hop (measured: 1.5 to 1.8 s per hop with the RocksDB store, and on one of two workers; 6 ms with 50).
    """
    faust_new_consumer = app._new_consumer  # a faust.App: its private factory of consumers

    def new_consumer() -> Any:
        consumer: Any = faust_new_consumer()
        thread = consumer._thread  # faust's AIOKafkaConsumerThread: it creates the aiokafka consumer on start
        faust_create = thread._create_worker_consumer

        def create_worker_consumer(transport: Any) -> Any:
            kafka_consumer = faust_create(transport)
            kafka_consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when its start() builds the fetcher
            return kafka_consumer

        thread._create_worker_consumer = create_worker_consumer
        return consumer

    app._new_consumer = new_consumer


def refetch_what_a_fetch_cannot_deliver(app: Any) -> None:
    """Have every consumer Faust creates seek a partition back to the first record of a fetch that Faust would
    not deliver, so that it is fetched again instead of being lost.

    Faust hands aiokafka its live set of active partitions for the filter of a fetch, and aiokafka reads an empty
    set as "every partition". A rebalance empties that set (Faust pauses every partition) while a fetch is still
    waiting: the fetch then returns any partition's records, and Faust drops those it does not deliver (flow
    stopped, or partition paused), though aiokafka has moved past them. When they were a changelog's, read just
    after table recovery sought it back, the recovery waited for them for good (a worker stuck in "recovery"
    after a second worker left, seen once in the crash tests). Records of a stream partition were caught up
    later (``CommitKeeper``); they are now fetched again too.
    """
    faust_new_consumer = app._new_consumer  # a faust.App: its private factory of consumers

    def new_consumer() -> Any:
        consumer: Any = faust_new_consumer()
        thread = consumer._thread  # faust's AIOKafkaConsumerThread: fetches run in its loop, one at a time
        faust_fetch = thread._fetch_records

        async def fetch_records(kafka_consumer: Any, active_partitions: set[TP] | None, timeout: float | None = None,
                                max_records: int | None = None) -> dict[Any, list[Any]]:
            records = await faust_fetch(kafka_consumer, active_partitions, timeout=timeout, max_records=max_records)
            if active_partitions is None:  # a client-only app: Faust delivers everything
                return records  # type: ignore[no-any-return]
            # the same checks Faust's getmany makes next, on the same live set
            deliverable = {tp: batch for tp, batch in records.items()
                           if consumer.flow_active and (tp in active_partitions or tp in consumer._buffered_partitions)}
            for tp, batch in records.items():
                if tp not in deliverable and batch:
                    kafka_consumer.seek(tp, batch[0].offset)
                    logger.info("a fetch ended in a rebalance: %s[%d] is fetched again from %d", tp.topic,
                                tp.partition, batch[0].offset)
            return deliverable

        thread._fetch_records = fetch_records
        return consumer

    app._new_consumer = new_consumer


def hand_over_before_tables_close(app: Any, hand_over: Callable[[], Awaitable[None]]) -> None:
    """Run ``hand_over`` when a stopping worker has stopped its flow of records, before Faust closes its tables.

    Faust's stop closes every table (RocksDB: about 50 ms each) and only then stops the agents and the consumer,
    which leaves the group: the other workers waited for all of it before taking the partitions over (0.67 s of
    a 1.78 s gap measured on a SIGTERM). Faust's stop waits for its streams in ``_consumer_wait_empty`` right
    before it closes the tables; a rebalance calls it too, which is not a stop."""
    faust_wait_empty = app._consumer_wait_empty  # a faust.App: its stop's last step before the tables close

    async def wait_empty(consumer: Any, logger: Any) -> None:
        await faust_wait_empty(consumer, logger)
        if app.should_stop:
            await hand_over()

    app._consumer_wait_empty = wait_empty


async def commit_and_leave_group(app: AppT) -> None:
    """Commit what the engine says, then have the app's Kafka consumer leave its group: the group's other members
    get its partitions at once.

    No other commit may run across the leave: one Faust's timer began before it would reach the Kafka client
    once the consumer holds no partition, which raises there and crashes the app. Faust's commits take turns
    through ``_commit_fut`` (a commit that finds one under way waits for it, then does nothing); this one holds
    the turn for its commit and the leave. aiokafka's ``unsubscribe`` sends the LeaveGroup and drops the
    subscription, so the consumer does not join again (a heartbeat already sent may still be answered "unknown
    member", which aiokafka logs as a warning); it runs in the thread Faust runs the consumer in."""
    consumer: Any = app.consumer  # a faust Consumer: its commit turn, and its consumer thread
    while consumer._commit_fut is not None:  # a commit under way took its offsets before the lanes drained
        await consumer.maybe_wait_for_commit_to_finish()
    turn = consumer._commit_fut = asyncio.get_running_loop().create_future()
    try:
        await consumer.force_commit()
        thread = consumer._thread  # faust's AIOKafkaConsumerThread: the aiokafka consumer lives in its loop

        async def unsubscribe() -> None:
            thread._ensure_consumer().unsubscribe()

        await thread.call_thread(unsubscribe)
    finally:
        consumer._commit_fut = None
        turn.set_result(None)


def collect_garbage_only_for_closed_databases() -> None:
    """Have Faust's RocksDB store run its full garbage collection on a rebalance only when it closed a database.

    The store runs one per table at every rebalance, to free the databases of revoked partitions (and their
    file locks), even when it revoked none: a worker taking partitions over (one of two stopped) ran eight
    in a row with its event loop blocked, 0.17 to 0.45 s of the handover measured."""
    if getattr(RocksDBStore.revoke_partitions, "closes_databases_only", False):
        return
    faust_revoke = RocksDBStore.revoke_partitions

    def revoke_partitions(store: Any, table: Any, tps: set[TP]) -> None:
        changelog = table.changelog_topic.topics
        if any(tp.topic in changelog and tp.partition in store._dbs for tp in tps):  # its open databases
            faust_revoke(store, table, tps)

    revoke_partitions.closes_databases_only = True  # type: ignore[attr-defined]
    RocksDBStore.revoke_partitions = revoke_partitions  # type: ignore[method-assign,assignment]


def table_keys(table: Any) -> int:
    """How many keys a table holds for this worker's active partitions, without reading them.

    ``len()`` of a RocksDB table iterates every key: with a million, each /metrics scrape held the event loop for
    seconds (the bench's expiry step, which reads /metrics every second, saw the worker forget 100 consumers a
    second instead of 1,000). RocksDB keeps an estimate per database (exact but for overwrites and deletions not
    yet compacted); the memory store's length is exact and cheap."""
    if not isinstance(table.data, RocksDBStore):
        return len(table)
    return sum(max(0, db.property_int_value(ROCKSDB_KEY_ESTIMATE) or 0) for db in rocksdb_databases(table))


def rocksdb_databases(table: Any) -> list[Any]:
    """The RocksDB databases (``rocksdict.Rdict``) of a table's active partitions; none for a memory table."""
    store = table.data  # a faust Collection's store
    return list(store._dbs_for_actives()) if isinstance(store, RocksDBStore) else []


ROCKSDB_KEY_ESTIMATE = "rocksdb.estimate-num-keys"


class _NothingReadYet(dict[TP, "int | None"]):
    """Faust's read offsets, always read as "none yet"."""

    def __getitem__(self, tp: TP) -> int | None:
        return None
