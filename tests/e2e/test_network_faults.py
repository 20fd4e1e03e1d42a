"""The network between the worker and the broker failing: latency, a blackhole, reset connections. Row 16.

The worker reaches the broker only through a userspace TCP proxy (the broker advertises a listener at the
proxy's port), while the bridges and the test talk to the broker directly, so messages keep being acknowledged
while the worker is cut off. A worker that gives up on Kafka exits (code 70) and is started again, as its
supervisor would; each such restart may repeat one send, and the test allows and reports that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.broker import KafkaBroker
from devstack.ports import free_port
from devstack.stack import Stack, StackConfig
from devstack.tcpproxy import TcpProxy
from kafkaclients import KafkaConnection, admin_client
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes
from tests.e2e.traffic import RECOVERY_S, Traffic, check_invariants, wait_for_some

pytestmark = pytest.mark.e2e
SESSION_TIMEOUT_S = 6.0
GROUP = "lec-worker"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaBroker, TcpProxy, Stack]]:
    proxy_port = free_port()
    broker = KafkaBroker(proxy_port=proxy_port, log_path=tmp_path_factory.mktemp("net-kafka") / "broker.log")
    broker.start()
    proxy = TcpProxy(broker.proxied_port, port=proxy_port).start()
    config = StackConfig.on_free_ports(retry_delays_s=[0.3, 0.6, 1.2, 2.4], worker_env={
        "LEC_KAFKA_BOOTSTRAP": broker.proxied_bootstrap, "LEC_APP_ID": GROUP,
        "LEC_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S), "LEC_PRODUCE_TIMEOUT_S": "15"})
    stack = Stack(broker.bootstrap, config, Path(tmp_path_factory.mktemp("net-stack")))
    try:
        stack.start()
        yield broker, proxy, stack
    finally:
        stack.stop()
        proxy.stop()
        broker.stop()


@pytest.fixture
def sandboxes(network: tuple[KafkaBroker, TcpProxy, Stack]) -> Iterator[Sandboxes]:
    helper = Sandboxes(network[2])
    yield helper
    helper.http.close()


def group_members(bootstrap: str) -> int:
    """How many members the broker counts in the worker's consumer group (asked on the direct listener)."""
    async def ask() -> int:
        admin = admin_client(KafkaConnection(kafka_bootstrap=bootstrap))
        await admin.start()
        try:
            (described,) = await admin.describe_consumer_groups([GROUP])
            return len(described.groups[0][5])  # (error, group, state, protocol type, protocol, members, ...)
        finally:
            await admin.close()

    return asyncio.run(ask())


def wait_recovered(stack: Stack, sandboxes: Sandboxes, traffic: Traffic) -> int:
    """Wait for every acknowledged text at LiveEngage, starting the worker again whenever it gave up on Kafka
    (its supervisor's job); return how many restarts that took."""
    traffic.join()
    worker = stack.processes["worker"]
    restarts = 0

    def recovered() -> bool:
        nonlocal restarts
        if not worker.alive():
            assert worker.wait_exit(1) == 70, worker.log()[-3000:]  # gave up on Kafka on purpose, nothing else
            stack.start_worker()
            restarts += 1
        return all(set(texts) <= set(sandboxes.effects(c)) for c, texts in traffic.acknowledged.items())

    wait_until(recovered, timeout=RECOVERY_S, what="every acknowledged text after the fault", interval=1.0)
    return restarts


def test_16_latency_between_worker_and_broker(network: tuple[KafkaBroker, TcpProxy, Stack],
                                              sandboxes: Sandboxes) -> None:
    _, proxy, stack = network
    proxy.set_latency(0.05)  # each chunk, each way: a round trip of 100 ms or more
    try:
        traffic = Traffic(stack, consumers=3, per_consumer=6).start()
        assert check_invariants(stack, sandboxes, traffic, repeats_per_conversation=0) == 0
    finally:
        proxy.set_latency(0.0)


def test_16_blackhole_until_the_broker_drops_the_worker(network: tuple[KafkaBroker, TcpProxy, Stack],
                                                        sandboxes: Sandboxes) -> None:
    broker, proxy, stack = network
    traffic = Traffic(stack, consumers=3, per_consumer=10).start()
    wait_for_some(sandboxes, traffic, 4)
    proxy.blackhole(True)
    try:
        # The cut lasts until the broker gave up on the worker's session: the worst case for commits.
        wait_until(lambda: group_members(broker.bootstrap) == 0, timeout=RECOVERY_S,
                   what="the broker dropping the cut-off worker from its group", interval=0.5)
    finally:
        proxy.blackhole(False)
    restarts = wait_recovered(stack, sandboxes, traffic)
    duplicates = check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1 + restarts)
    print(f"blackhole: worker restarts {restarts}, duplicate effects {duplicates}")


def test_16_connections_reset_mid_stream(network: tuple[KafkaBroker, TcpProxy, Stack],
                                         sandboxes: Sandboxes) -> None:
    _, proxy, stack = network
    traffic = Traffic(stack, consumers=3, per_consumer=10).start()
    resets = 0
    for seen in (3, 9, 15):
        wait_for_some(sandboxes, traffic, seen)
        resets += 1 if proxy.reset_all() else 0
    restarts = wait_recovered(stack, sandboxes, traffic)
    duplicates = check_invariants(stack, sandboxes, traffic, repeats_per_conversation=resets + restarts)
    print(f"resets: {resets} rounds, {proxy.connections_reset} connections, worker restarts {restarts}, "
          f"duplicate effects {duplicates}")
