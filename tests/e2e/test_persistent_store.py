"""LEC_STORE=rocksdb: the worker keeps its tables in RocksDB on its volume (LEC_DATA_DIR). After a SIGKILL the
restarted worker reads them there and starts reading each changelog where its store left off, instead of from the
beginning; and, as with the memory store, nothing acknowledged is lost, order is kept and at most one send is
repeated per conversation. With two workers, each keeps a standby copy of the other's tables there, and takes
over a killed one's partitions from it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.broker import KafkaBroker
from devstack.stack import ManagedProcess, Stack, StackConfig
from schemas.topics import CONVERSATIONS_TABLE
from tests.e2e.conftest import Sandboxes, end_offsets
from tests.e2e.traffic import Traffic, check_invariants, wait_for_some

pytestmark = pytest.mark.e2e
CONVERSATIONS_CHANGELOG = f"lec-worker-{CONVERSATIONS_TABLE}-changelog"


@pytest.fixture(scope="module")
def rocksdb_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker and stack of this module's own: the worker's consumer group and changelogs are its own."""
    with KafkaBroker(log_path=tmp_path_factory.mktemp("store-kafka") / "broker.log") as broker:
        config = StackConfig.on_free_ports(worker_env={"LEC_STORE": "rocksdb", "LEC_SESSION_TIMEOUT_S": "6"})
        stack = Stack(broker.bootstrap, config, Path(tmp_path_factory.mktemp("store-stack")))
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


def reading_starts(log: str, changelog: str) -> dict[int, int]:
    """Per partition of ``changelog``: the offset the worker's last table recovery in ``log`` started reading at
    (-1: from the beginning), from Faust's "active offsets at start of reading" table."""
    starts: dict[int, int] = {}
    lines = log.splitlines()
    marks = [i for i, line in enumerate(lines) if "active offsets at start of reading" in line]
    topic = ""
    for line in lines[marks[-1] + 1:] if marks else []:
        if not line.startswith(("|", "+")):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 3 or not cells[1].isdigit():
            continue
        topic = topic if cells[0] == "〃" else cells[0]
        if topic == changelog:
            starts[int(cells[1])] = int(cells[2])
    return starts


def test_a_killed_worker_restarts_from_its_local_store(rocksdb_stack: Stack) -> None:
    stack = rocksdb_stack
    sandboxes = Sandboxes(stack)
    traffic = Traffic(stack, consumers=4, per_consumer=8).start()
    wait_for_some(sandboxes, traffic, 6)
    worker = stack.processes["worker"]
    before = len(worker.log())
    worker.signal(9)
    assert worker.process is not None
    worker.process.wait(30)
    stack.start_worker()
    check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1)
    starts = reading_starts(stack.processes["worker"].log()[before:], CONVERSATIONS_CHANGELOG)
    assert starts, "no table recovery after the restart"
    assert any(offset >= 0 for offset in starts.values()), f"every changelog read from the beginning: {starts}"
    sandboxes.http.close()


@contextlib.contextmanager
def one_of_two_workers_under_traffic(
        stack: Stack) -> Iterator[tuple[Sandboxes, Traffic, ManagedProcess, Callable[[], str]]]:
    """A second worker beside the module's one, traffic through both, and some of it at LiveEngage: the sandboxes,
    the traffic, the module's worker (for the test to stop) and the other's log since then. Afterwards the stack
    is as it was: the module's worker back, the second one gone."""
    sandboxes = Sandboxes(stack)
    survivor = stack.start_worker("worker-2")
    try:
        traffic = Traffic(stack, consumers=12, per_consumer=6).start()
        wait_for_some(sandboxes, traffic, 12)
        before = len(survivor.log())
        yield sandboxes, traffic, stack.processes["worker"], lambda: survivor.log()[before:]
    finally:
        stack.start_worker()
        survivor.stop()
        sandboxes.http.close()


def test_a_standby_takes_over_the_partitions_of_a_killed_worker(rocksdb_stack: Stack) -> None:
    """Two workers, each keeping a standby copy of the other's tables (LEC_STANDBY_REPLICAS, 1 by default): when
    one is SIGKILLed, the other serves its partitions from that copy, reading each changelog from where the copy
    had got to, not from the beginning."""
    stack = rocksdb_stack
    with one_of_two_workers_under_traffic(stack) as (sandboxes, traffic, worker, survivor_log):
        worker.signal(9)
        assert worker.process is not None
        worker.process.wait(30)
        check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1)
        starts = reading_starts(survivor_log(), CONVERSATIONS_CHANGELOG)
        assert set(starts) == set(range(stack.config.partitions)), f"not serving every partition: {starts}"
        written = {p for p, end in end_offsets(stack, CONVERSATIONS_CHANGELOG).items() if end > 0}
        assert written, "no conversation state written"
        assert all(starts[p] >= 0 for p in written), f"a changelog read from the beginning: {starts}"


def test_a_stopped_worker_hands_its_partitions_over_before_closing_its_tables(rocksdb_stack: Stack) -> None:
    """A worker stopped for an upgrade (SIGTERM) finishes its records in flight, commits, and leaves the group
    before Faust closes its tables, so that the other takes the partitions over meanwhile; nothing is lost or
    repeated, and order is kept."""
    stack = rocksdb_stack
    with one_of_two_workers_under_traffic(stack) as (sandboxes, traffic, worker, survivor_log):
        stopped_from = len(worker.log())
        worker.stop(timeout=60)
        stopped = worker.log()[stopped_from:]
        assert "leaving the group" in stopped, "the stopped worker did not leave the group"
        assert stopped.index("leaving the group") < stopped.index("TableManager]: Stopping"), \
            "the worker left the group only after closing its tables"
        check_invariants(stack, sandboxes, traffic, repeats_per_conversation=0)
        starts = reading_starts(survivor_log(), CONVERSATIONS_CHANGELOG)
        assert set(starts) == set(range(stack.config.partitions)), f"not serving every partition: {starts}"
