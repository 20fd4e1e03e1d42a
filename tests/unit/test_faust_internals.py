"""Pins the Faust internals the engine relies on (``streams/engine/faust_internals.py``), on Faust's real classes.

A Faust upgrade that renames or reshapes one of them fails here, by name, instead of silently losing a record in
the crash tests or in production. And no other module of the worker touches them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiokafka
import faust
import pytest
from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from kafkaclients import KafkaConnection, faust_options
from streams.engine import faust_internals
from streams.engine.faust_internals import FAUST_DECIDES, commit_offsets, forget_unacked, set_current_event

ROOT = Path(__file__).resolve().parents[2]
TP0 = TP("lec.liveengage.commands", 0)
TP1 = TP("not.the.engines", 0)
PRIVATE_NAMES = {"_new_consumer", "_read_offset", "_new_offset", "_acked", "_acked_index", "_current_event",
                 "_unacked_messages", "_thread", "_create_worker_consumer", "_fetch_max_wait_ms", "_dbs_for_actives",
                 "_getters", "_fetch_records", "_buffered_partitions", "_consumer_wait_empty", "_ensure_consumer",
                 "_dbs", "_commit_fut"}


class Thing:
    """Any object Faust holds a weak reference to (its events and messages)."""

    acked = False
    tp = TP0
    offset = 7

    @classmethod
    def at(cls, offset: int) -> Thing:
        thing = cls()
        thing.offset = offset
        return thing


@pytest.fixture
async def app() -> AsyncIterator[faust.App]:  # built in a running loop, which Faust's services take as theirs
    never_reached = KafkaConnection(kafka_bootstrap="127.0.0.1:1")  # nothing here connects
    app = faust.App("pin-faust-internals", **faust_options(never_reached), autodiscover=False, web_enabled=False)
    yield app
    consumer: Any = app._consumer  # never started: the loop its thread was given is closed here
    if consumer is not None:
        consumer._thread.thread_loop.close()


async def test_the_consumer_faust_creates_commits_what_the_engine_says(app: faust.App) -> None:
    commit_offsets(app, lambda tp: 41 if tp == TP0 else FAUST_DECIDES)
    consumer: Any = app.consumer  # built by Faust's factory, through ours
    assert isinstance(consumer, Consumer)
    consumer._acked[TP0].extend([3, 4, 5])
    consumer._acked_index[TP0].update({3, 4, 5})
    assert consumer._filter_committable_offsets([TP0]) == {TP0: 41}  # the path Faust's commit takes
    assert not consumer._acked[TP0] and not consumer._acked_index[TP0]  # emptied, so they do not grow
    consumer._acked[TP1].extend([7, 8])
    consumer._acked_index[TP1].update({7, 8})
    assert consumer._filter_committable_offsets([TP1]) == {TP1: 9}  # Faust's own choice: after 8


async def test_the_fetch_loop_reads_offsets_through_getitem(app: faust.App) -> None:
    """The fetch loop drops a record below its read offset; ours always read "none yet"."""
    commit_offsets(app, lambda tp: FAUST_DECIDES)
    consumer: Any = app.consumer
    consumer._read_offset[TP0] = 10
    assert consumer._read_offset[TP0] is None
    assert "get_read_offset = self._read_offset.__getitem__" in inspect.getsource(Consumer._drain_messages)


async def test_the_kafka_consumer_faust_builds_waits_briefly_for_records(app: faust.App) -> None:
    commit_offsets(app, lambda tp: FAUST_DECIDES)
    faust_internals.shorten_fetch_wait(app)  # as the worker does: after the engine's commit_offsets
    consumer: Any = app.consumer
    assert isinstance(consumer._read_offset, faust_internals._NothingReadYet)  # both wrappers hold
    kafka_consumer = consumer._thread._create_worker_consumer(consumer._thread.transport)
    assert isinstance(kafka_consumer, aiokafka.AIOKafkaConsumer)
    assert kafka_consumer._fetch_max_wait_ms == faust_internals.FETCH_MAX_WAIT_MS
    # aiokafka reads it when it builds its fetcher on start
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    await kafka_consumer.stop()  # never started: closes what it built


class FetchCutByARebalance:
    """An aiokafka consumer whose one fetch waits while Faust rebalances, then returns as aiokafka's does: a
    partition not in the filter set is left out, but an empty set filters nothing."""

    _closed = False

    def __init__(self, rebalance: Any, fetched: dict[TP, list[int]]) -> None:
        self._fetcher = self
        self._subscriptions = self
        self.rebalance, self.fetched = rebalance, fetched
        self.sought: list[tuple[TP, int]] = []

    @contextlib.contextmanager
    def fetch_context(self) -> Any:
        yield

    async def fetched_records(self, partitions: set[TP], timeout: float, max_records: int | None) -> dict[TP, Any]:
        self.rebalance()
        return {tp: [Thing.at(offset) for offset in offsets] for tp, offsets in self.fetched.items()
                if not partitions or tp in partitions}

    def seek(self, tp: TP, offset: int) -> None:
        self.sought.append((tp, offset))


async def test_what_a_fetch_cut_by_a_rebalance_cannot_deliver_is_fetched_again(app: faust.App) -> None:
    faust_internals.refetch_what_a_fetch_cannot_deliver(app)
    consumer: Any = app.consumer
    changelog = TP("lec-worker-conversations-changelog", 0)
    consumer._set_active_tps({TP0, changelog})

    def revoke() -> None:  # what Faust does on a revocation: flow stopped, every partition paused
        consumer.stop_flow()
        consumer.pause_partitions({TP0, changelog})

    kafka_consumer = FetchCutByARebalance(revoke, {changelog: [0, 1, 2], TP0: [5]})
    records = await consumer._thread._fetch_records(kafka_consumer, consumer._active_partitions, timeout=1.0)
    assert records == {}
    assert sorted(kafka_consumer.sought) == [(changelog, 0), (TP0, 5)]  # from their first record: not lost

    def pause_all() -> None:  # flow goes on, but every partition is paused (between two steps of a rebalance)
        consumer.pause_partitions({TP0, changelog})

    consumer.resume_flow()
    consumer._set_active_tps({TP0, changelog})
    kafka_consumer = FetchCutByARebalance(pause_all, {changelog: [3], TP0: [6]})
    assert await consumer._thread._fetch_records(kafka_consumer, consumer._active_partitions, timeout=1.0) == {}
    assert sorted(kafka_consumer.sought) == [(changelog, 3), (TP0, 6)]

    consumer.resume_partitions({changelog})  # what recovery does: only the changelog is read
    kafka_consumer = FetchCutByARebalance(lambda: None, {changelog: [3, 4], TP0: [6]})
    records = await consumer._thread._fetch_records(kafka_consumer, consumer._active_partitions, timeout=1.0)
    assert [record.offset for record in records[changelog]] == [3, 4] and TP0 not in records
    assert kafka_consumer.sought == []  # aiokafka kept the paused partition's records: nothing to fetch again
    # why: Faust hands aiokafka its live set of active partitions, and aiokafka reads an empty one as all
    assert "active_partitions = self._get_active_partitions()" in inspect.getsource(Consumer._wait_next_records)
    assert "if partitions and tp not in partitions" in inspect.getsource(
        aiokafka.consumer.fetcher.Fetcher.fetched_records)


async def test_a_task_can_name_the_event_it_works_for() -> None:
    event: Any = Thing()

    async def in_a_task() -> Any:
        set_current_event(event)
        return faust.current_event()

    assert await asyncio.ensure_future(in_a_task()) is event


async def test_a_message_can_leave_the_set_faust_waits_for(app: faust.App) -> None:
    consumer: Any = app.consumer
    message: Any = Thing()
    consumer._unacked_messages.add(message)
    assert message in consumer.unacked
    forget_unacked(app, message)
    assert message not in consumer.unacked
    assert "_unacked_messages" in inspect.getsource(Consumer.wait_empty)  # what a rebalance waits for


async def test_the_changelog_buffer_is_emptied_before_the_flush(app: faust.App) -> None:
    buffer = app.producer.buffer
    assert isinstance(buffer, ProducerBuffer) and buffer.size == 0
    await faust_internals.flush_changelog_buffer(app, deadline=time.monotonic() + 1)


async def test_a_write_faust_s_sender_took_from_the_buffer_is_handed_over_before_the_flush(app: faust.App) -> None:
    """Faust's sender takes a write out of the buffer before the Kafka client has it (the client's send can
    wait); a flush that looked only at the buffer's size would return while the write is still in Faust's hands,
    and the record would count as durable without its table write."""
    buffer: Any = app.producer.buffer
    taken, release, handed = asyncio.Event(), asyncio.Event(), []

    async def held_send(fut: Any) -> None:  # the Kafka client's send, waiting for room in a batch
        taken.set()
        await release.wait()
        handed.append(fut)

    class SentEvent(asyncio.Event):  # the sender's "handed over" event, telling when someone waits for it
        def __init__(self) -> None:
            super().__init__()
            self.waited = asyncio.Event()

        async def wait(self) -> Literal[True]:
            self.waited.set()
            return await super().wait()

    buffer._send_pending = held_send  # before the sender starts: it reads the attribute once
    buffer.message_sent = SentEvent()
    await buffer.start()
    try:
        buffer.put(Thing())
        await asyncio.wait_for(taken.wait(), 1)  # the sender took it out of the buffer
        assert buffer.size == 0 and not handed
        flush = asyncio.ensure_future(faust_internals.flush_changelog_buffer(app, time.monotonic() + 30))
        waiting = asyncio.ensure_future(buffer.message_sent.waited.wait())
        await asyncio.wait({flush, waiting}, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        assert not flush.done(), "the flush returned while a write was still being handed over"
        assert waiting.done(), "the flush did not wait for the sender within 1 s"
        release.set()
        await asyncio.wait_for(flush, 30)
        assert len(handed) == 1
        assert isinstance(buffer.pending, asyncio.Queue) and buffer.pending._getters  # the sender waits again
    finally:
        release.set()
        await buffer.stop()


async def test_a_rocksdb_table_is_counted_from_its_estimate_not_by_reading_it(
        app: faust.App, tmp_path: Path) -> None:
    """Faust's RocksDB store keeps a database per partition, and yields those of active partitions from
    ``_dbs_for_actives``; each answers RocksDB's key estimate. A memory table is counted by ``len``."""
    import rocksdict
    from faust.stores.rocksdb import Store as RocksDBStore

    assert list(inspect.signature(RocksDBStore._dbs_for_actives).parameters) == ["self"]
    databases = [rocksdict.Rdict(str(tmp_path / f"p{n}")) for n in range(2)]
    for n, db in enumerate(databases):
        for key in range(1000 * (n + 1)):
            db[f"key-{key}".encode()] = b"value"
        db.flush()  # the estimate counts a deletion against a key already on disk
        for key in range(100):
            del db[f"key-{key}".encode()]
        db.flush()

    class Table:  # a Collection whose store is Faust's RocksDB store (as the worker's are with LEC_STORE=rocksdb)
        data = object.__new__(RocksDBStore)

        def __len__(self) -> int:
            raise AssertionError("a RocksDB table must not be counted by reading every key")

    Table.data._dbs_for_actives = lambda: iter(databases)  # type: ignore[attr-defined]
    assert faust_internals.table_keys(Table()) == 900 + 1900
    memory = app.Table("counted", default=None)
    memory.data["a"] = b"1"
    assert faust_internals.table_keys(memory) == 1
    for db in databases:
        db.close()


async def test_a_stopping_app_hands_over_before_it_closes_its_tables(app: faust.App) -> None:
    """Faust's stop waits for its streams, then closes the tables: the hand-over runs in between, and only when
    the app stops (a rebalance waits for the streams too)."""
    app.conf.stream_wait_empty = False  # Faust's own wait: nothing to wait for in this app
    handed_over = []

    async def hand_over() -> None:
        handed_over.append(True)

    faust_internals.hand_over_before_tables_close(app, hand_over)
    wait_empty: Any = app._consumer_wait_empty
    await wait_empty(app.consumer, app.log)
    assert handed_over == []  # a rebalance
    app._stopped.set()
    await wait_empty(app.consumer, app.log)
    assert handed_over == [True]
    stop_consumer = inspect.getsource(faust.App._stop_consumer)
    assert stop_consumer.index("self._consumer_wait_empty(") < stop_consumer.index("self.tables.stop()")
    assert "self._stop_consumer()" in inspect.getsource(faust.App.on_stop)


async def test_the_hand_over_commits_then_leaves_and_no_other_commit_runs_across_it(app: faust.App) -> None:
    """aiokafka's ``unsubscribe`` sends the LeaveGroup and drops the subscription, so its coordinator waits for
    a new one instead of joining again; Faust's thread hands out the aiokafka consumer it runs. A commit Faust's
    timer starts meanwhile waits for the hand-over and does nothing (it would raise in the Kafka client)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    consumer: Any = app.consumer
    thread = consumer._thread
    assert isinstance(thread, AIOKafkaConsumerThread)
    steps: list[str] = []
    leaving, may_leave = asyncio.Event(), asyncio.Event()

    async def force_commit() -> bool:
        steps.append("commit")
        return True

    class KafkaConsumer:
        def unsubscribe(self) -> None:
            steps.append("unsubscribe")

    async def call_thread(fun: Any, *args: Any) -> Any:  # the thread's loop is not started here
        leaving.set()
        await may_leave.wait()
        return await fun(*args)

    consumer.force_commit = force_commit
    thread._ensure_consumer = KafkaConsumer
    thread.call_thread = call_thread
    hand_over = asyncio.ensure_future(faust_internals.commit_and_leave_group(app))
    await asyncio.wait_for(leaving.wait(), 1)
    timer_commit = asyncio.ensure_future(consumer.commit())
    may_leave.set()
    await asyncio.wait_for(hand_over, 1)
    assert await asyncio.wait_for(timer_commit, 1) is False
    assert steps == ["commit", "unsubscribe"]  # the timer's commit did not run
    assert consumer._commit_fut is None
    assert "self._commit_fut" in inspect.getsource(Consumer.commit)
    assert "self._coordinator.maybe_leave_group()" in inspect.getsource(aiokafka.AIOKafkaConsumer.unsubscribe)
    routine = inspect.getsource(
        aiokafka.consumer.group_coordinator.GroupCoordinator._GroupCoordinator__coordination_routine)
    assert "if subscription is None:" in routine and "wait_for_subscription()" in routine
    assert inspect.signature(AIOKafkaConsumerThread._ensure_consumer).parameters.keys() == {"self"}


def test_a_rebalance_collects_garbage_only_when_it_closes_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's RocksDB store collects garbage on every revocation, to free the databases it closes; a table with
    none to close is passed over."""
    import gc
    from faust.stores import rocksdb as faust_rocksdb
    from faust.stores.rocksdb import Store as RocksDBStore

    assert "gc.collect()" in inspect.getsource(RocksDBStore.revoke_partitions)
    monkeypatch.setattr(RocksDBStore, "revoke_partitions", RocksDBStore.revoke_partitions)  # Faust's, after
    assert faust_rocksdb.gc is gc
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args))
    faust_internals.collect_garbage_only_for_closed_databases()
    faust_internals.collect_garbage_only_for_closed_databases()  # once only: not wrapped twice

    class Table:
        class changelog_topic:
            topics = {"t-changelog"}

    store: Any = object.__new__(RocksDBStore)
    store._dbs = {0: "db of partition 0"}
    store.logger = logging.getLogger(__name__)
    store.revoke_partitions(Table(), set())
    store.revoke_partitions(Table(), {TP("t-changelog", 1), TP("another-changelog", 0)})
    assert collections == [] and store._dbs == {0: "db of partition 0"}
    store.revoke_partitions(Table(), {TP("t-changelog", 0), TP("t-changelog", 1)})
    assert collections == [()] and store._dbs == {}


def test_no_other_module_of_the_worker_touches_them() -> None:
    touching = {}
    for path in (ROOT / "streams").rglob("*.py"):
        if path.name == "faust_internals.py":
            continue
        tree = ast.parse(path.read_text())
        names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  for alias in node.names}
        if names & PRIVATE_NAMES:
            touching[str(path.relative_to(ROOT))] = sorted(names & PRIVATE_NAMES)
    assert touching == {}
