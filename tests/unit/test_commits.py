"""CommitKeeper: records handled in offset order per partition, and commits only over records carried out.

The crash tests (tests/e2e/test_crashes.py) exercise it through real processes; the paths here (records missing
before the one that arrived, a record arriving again, retention) are rare there, so they are pinned down with a
stand-in for the few consumer attributes the keeper uses.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from kafkaclients import KafkaConnection
from streams.engine.commits import CATCH_UP_MAX, CommitKeeper

TP0 = TP("lec.liveengage.commands", 0)


class StandInConsumer:
    """Faust's consumer as far as the keeper uses it, and the group's committed position."""

    def __init__(self, committed: int | None, log_start: int = 0) -> None:
        self.committed_position = committed
        self._read_offset: dict[TP, int] = {}
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self.log_start = log_start
        self.reads: list[tuple[int, int]] = []
        self.high = 0  # the partition's high watermark as the fetcher last saw it

    def assignment(self) -> set[TP]:
        return {TP0}

    def highwater(self, tp: TP) -> int:
        return self.high

    def _new_offset(self, tp: TP) -> int | None:
        raise AssertionError("Faust's choice must not be used for a partition the keeper tracks")


def event(offset: int, generation: int = 1) -> Any:
    return SimpleNamespace(message=SimpleNamespace(tp=TP0, offset=offset, generation_id=generation))


def keeper_on(consumer: StandInConsumer) -> CommitKeeper:
    """A keeper installed the way the worker's is (on the consumer as Faust creates it); missing records are
    "read" from a list instead of Kafka."""
    app = SimpleNamespace(_new_consumer=lambda: consumer, consumer_generation_id=1, rebalancing=False,
                          in_recovery=False, flow_control=SimpleNamespace(is_active=lambda: True))
    keeper = CommitKeeper(app, KafkaConnection())  # type: ignore[arg-type]
    app.consumer = app._new_consumer()

    async def read_missing(tp: TP, first: int, end: int, generation: int | None) -> list[Any]:
        consumer.reads.append((first, end))
        return [event(offset, generation or 1) for offset in range(max(first, consumer.log_start), end)]

    async def group_offsets() -> dict[TP, int]:
        return {} if consumer.committed_position is None else {TP0: consumer.committed_position}

    async def log_starts(tps: set[TP]) -> dict[TP, int]:
        return {tp: consumer.log_start for tp in tps}

    keeper._read_missing = read_missing  # type: ignore[method-assign]
    keeper._group_offsets = group_offsets  # type: ignore[method-assign]
    keeper._log_starts = log_starts  # type: ignore[method-assign]
    return keeper


async def carry_out(keeper: CommitKeeper, offset: int, generation: int = 1) -> list[int]:
    """Admit a record as the stream delivers it; finish what is due; the offsets handled, in order."""
    due = await keeper.admit(event(offset, generation))
    for record in due:
        keeper.finished(record)
    return [record.message.offset for record in due]


async def test_records_in_order_are_handled_and_committed_up_to_the_last_one_finished() -> None:
    consumer = StandInConsumer(committed=5)
    keeper = keeper_on(consumer)
    assert [await carry_out(keeper, offset) for offset in (5, 6, 7)] == [[5], [6], [7]]
    in_flight = event(8)
    assert await keeper.admit(in_flight) == [in_flight]
    assert consumer._new_offset(TP0) == 8  # 8 is admitted but not finished: not committed yet
    keeper.finished(in_flight)
    assert consumer._new_offset(TP0) == 9


async def test_records_finished_out_of_order_are_committed_only_up_to_the_first_one_not_done() -> None:
    """Records of different keys run in lanes and finish in any order: the commit never passes one in flight."""
    consumer = StandInConsumer(committed=10)
    keeper = keeper_on(consumer)
    admitted = [event(offset) for offset in range(10, 15)]
    for record in admitted:
        assert await keeper.admit(record) == [record]
    for offset, committable in ((12, 10), (14, 10), (10, 11), (11, 13), (13, 15)):
        keeper.finished(admitted[offset - 10])
        assert consumer._new_offset(TP0) == committable, f"after {offset} finished"


async def test_a_record_left_for_the_next_generation_holds_the_commit_below_it() -> None:
    """A record whose lane turn came while Faust rebalanced is never finished in its generation: the records
    after it that did finish are not committed either, so the next owner replays them (as no-ops) and it."""
    consumer = StandInConsumer(committed=0)
    keeper = keeper_on(consumer)
    left, later = event(0), event(1)
    assert await keeper.admit(left) == [left] and await keeper.admit(later) == [later]
    keeper.finished(later)
    assert consumer._new_offset(TP0) == 0


async def test_records_missing_at_the_head_are_read_and_handled_first() -> None:
    consumer = StandInConsumer(committed=5)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 7) == [5, 6, 7]
    assert consumer.reads == [(5, 7)]
    assert consumer._new_offset(TP0) == 8
    assert await carry_out(keeper, 5) == [] and await carry_out(keeper, 6) == []  # Faust's redelivery
    assert await carry_out(keeper, 8) == [8]


async def test_faust_alone_commits_over_that_missing_record() -> None:
    """Why the keeper exists: Faust's own choice, committed 5 and 6, 7 acked, is 8 (record 5 never handled)."""
    faust_state = SimpleNamespace(_acked={TP0: [6, 7]}, _acked_index={TP0: {6, 7}}, _gap=defaultdict(list),
                                  _committed_offset={TP0: 5})
    assert FaustConsumer._new_offset(faust_state, TP0) == 8  # type: ignore[arg-type]


async def test_a_gap_in_the_middle_is_filled_in_order() -> None:
    consumer = StandInConsumer(committed=0)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 0) == [0] and await carry_out(keeper, 1) == [1]
    assert await carry_out(keeper, 3) == [2, 3]
    assert consumer._new_offset(TP0) == 4


async def test_a_record_that_comes_again_is_passed_over() -> None:
    consumer = StandInConsumer(committed=10)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 10) == [10] and await carry_out(keeper, 11) == [11]
    assert await carry_out(keeper, 10) == [] and await carry_out(keeper, 11) == []
    assert await carry_out(keeper, 12) == [12]
    assert consumer.reads == [] and consumer._new_offset(TP0) == 13


async def test_faust_drops_no_fetched_record_and_marks_no_gap() -> None:
    consumer = StandInConsumer(committed=0)
    keeper_on(consumer)
    consumer._read_offset[TP0] = 7  # what Faust's fetch loop writes after each record
    assert consumer._read_offset[TP0] is None  # ... and reads back before the next: deliver it, whatever it is


async def test_records_gone_by_retention_are_not_waited_for() -> None:
    consumer = StandInConsumer(committed=3, log_start=40)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 40) == [40]
    assert consumer._new_offset(TP0) == 41


async def test_nothing_committed_starts_at_the_log_start_not_at_the_first_record() -> None:
    """A worker that died before its first commit handled records the group never committed, and Faust's stream
    can skip records while its flow is suspended: the first record that reaches the keeper is not where to start
    (a crash test lost two texts that way)."""
    consumer = StandInConsumer(committed=None, log_start=0)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 7) == [0, 1, 2, 3, 4, 5, 6, 7] and consumer.reads == [(0, 7)]
    assert await carry_out(keeper, 8) == [8]
    assert consumer._new_offset(TP0) == 9


async def test_nothing_committed_and_retention_starts_at_the_first_record_kept() -> None:
    consumer = StandInConsumer(committed=None, log_start=40)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 42) == [40, 41, 42]
    consumer.high = 43
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []


async def test_a_new_generation_starts_again_from_the_committed_position() -> None:
    consumer = StandInConsumer(committed=0)
    keeper = keeper_on(consumer)
    assert await carry_out(keeper, 0) == [0] and await carry_out(keeper, 1) == [1]
    consumer.committed_position = 2  # committed before the rebalance
    in_flight_before_rebalance = event(2, generation=1)
    assert await keeper.admit(in_flight_before_rebalance) == [in_flight_before_rebalance]
    assert await carry_out(keeper, 2, generation=2) == [2]
    keeper.finished(in_flight_before_rebalance)  # finishing late must not move the new generation's progress
    assert consumer._new_offset(TP0) == 3


async def test_records_fetched_but_never_delivered_are_found_on_an_idle_partition() -> None:
    consumer = StandInConsumer(committed=4)
    keeper = keeper_on(consumer)
    consumer.high = 8  # records 4..7 are in Kafka; Faust delivered none of them
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []  # first look: the partition is tracked from now on
    assert await keeper.stuck({"another.topic"}, idle_s=0) == []
    assert await keeper.stuck({TP0.topic}, idle_s=3600) == []  # not idle long enough
    assert await keeper.stuck({TP0.topic}, idle_s=0) == [TP0]
    caught_up = await keeper.catch_up(TP0)
    assert [record.message.offset for record in caught_up] == [4, 5, 6, 7] and consumer.reads == [(4, 8)]
    for record in caught_up:
        keeper.finished(record)
    assert consumer._new_offset(TP0) == 8
    assert await carry_out(keeper, 6) == []  # Faust's late delivery is passed over
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []


async def test_undelivered_records_wait_while_faust_rebalances() -> None:
    """A blackhole ends a generation while its records are read: none is handled until Faust is steady again, and
    one left unhandled is the next to handle."""
    consumer = StandInConsumer(committed=4)
    keeper = keeper_on(consumer)
    consumer.high = 8
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []
    keeper._app.rebalancing = True  # type: ignore[attr-defined]
    assert not keeper.steady(1) and await keeper.catch_up(TP0) == []
    keeper._app.rebalancing = False  # type: ignore[attr-defined]
    assert keeper.steady(1) and not keeper.steady(2)
    caught_up = await keeper.catch_up(TP0)
    keeper.finished(caught_up[0])
    keeper.put_back(caught_up[1:])  # Faust stopped being steady after the first
    assert await carry_out(keeper, 5) == [5]  # the record put back is handled when it comes again


async def test_a_record_admitted_while_an_idle_partition_is_first_looked_at_keeps_its_progress() -> None:
    """The sweeper asks where an idle partition starts without the partition's lock; a record admitted meanwhile
    must not have its progress replaced (its finish would then be forgotten, and the commit held back)."""
    consumer = StandInConsumer(committed=4)
    consumer.high = 6
    keeper = keeper_on(consumer)
    quick, asked, answer = keeper._group_offsets, asyncio.Event(), asyncio.Event()

    async def slow_group_offsets() -> dict[TP, int]:
        asked.set()
        await answer.wait()
        return await quick()

    keeper._group_offsets = slow_group_offsets  # type: ignore[method-assign]
    look = asyncio.ensure_future(keeper.stuck({TP0.topic}, idle_s=0))
    await asyncio.wait_for(asked.wait(), 5)  # the sweeper now waits for the broker's answer
    keeper._group_offsets = quick  # type: ignore[method-assign]
    admitted = await keeper.admit(event(4))
    answer.set()
    await look
    assert [record.message.offset for record in admitted] == [4] and consumer._new_offset(TP0) == 4
    keeper.finished(admitted[0])
    assert consumer._new_offset(TP0) == 5


async def test_a_partition_with_records_in_the_lanes_is_busy_not_stuck() -> None:
    """Under load a partition's next records wait for their turn; reading them directly as well was seen to pull
    200,000 records into memory at once and slow the worker down to a hundred records a second."""
    consumer = StandInConsumer(committed=4)
    keeper = keeper_on(consumer)
    first = (await keeper.admit(event(4)))[0]  # in a lane, not finished
    consumer.high = 9
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []
    keeper.finished(first)
    assert await keeper.stuck({TP0.topic}, idle_s=0) == [TP0]


async def test_a_stuck_partition_is_caught_up_a_bounded_number_of_records_at_a_time() -> None:
    consumer = StandInConsumer(committed=0)
    keeper = keeper_on(consumer)
    consumer.high = CATCH_UP_MAX * 3 + 7
    assert await keeper.stuck({TP0.topic}, idle_s=0) == []
    caught_up = await keeper.catch_up(TP0)
    assert len(caught_up) == CATCH_UP_MAX and consumer.reads == [(0, CATCH_UP_MAX)]
    for record in caught_up:
        keeper.finished(record)
    assert await keeper.stuck({TP0.topic}, idle_s=0) == [TP0]
    assert [record.message.offset for record in await keeper.catch_up(TP0)][0] == CATCH_UP_MAX
