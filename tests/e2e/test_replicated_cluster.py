"""Replication factor 3, as on a brand's cluster: three KRaft nodes on one box, the worker on its defaults for a
real cluster (three replicas, two in sync). Every topic it creates has three replicas and min.insync.replicas=2;
when one node is SIGKILLed, conversations go on both ways, nothing lost and in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from devstack.broker import KafkaCluster
from devstack.stack import Stack, StackConfig
from kafkaclients import KafkaConnection, admin_client
from streams.topic_plan import plan
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    with KafkaCluster(3) as running:
        yield running


def described(bootstrap: str, names: list[str]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Each topic's partitions (leader, replicas, isr) and its min.insync.replicas."""
    async def ask() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        admin = admin_client(KafkaConnection(kafka_bootstrap=bootstrap))
        await admin.start()
        try:
            topics = {entry["topic"]: entry["partitions"] for entry in await admin.describe_topics(names)}
            answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
            min_isr = {}
            for answer in answers:
                for resource in answer.resources:
                    _, _, _, name, entries = resource[:5]
                    min_isr[name] = next(entry[1] for entry in entries if entry[0] == "min.insync.replicas")
            return topics, min_isr
        finally:
            await admin.close()
    return asyncio.run(ask())


def topic_names(bootstrap: str) -> set[str]:
    async def ask() -> set[str]:
        admin = admin_client(KafkaConnection(kafka_bootstrap=bootstrap))
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()
    return asyncio.run(ask())


def leaders(bootstrap: str, names: list[str]) -> set[int] | None:
    """The nodes leading some partition of these topics; None while Kafka cannot say (a node just died)."""
    async def ask() -> set[int]:
        admin = admin_client(KafkaConnection(kafka_bootstrap=bootstrap))
        await admin.start()
        try:
            return {p["leader"] for entry in await admin.describe_topics(names) for p in entry["partitions"]}
        finally:
            await admin.close()
    try:
        return asyncio.run(ask())
    except KafkaError:
        return None


def test_three_replicas_two_in_sync_and_a_killed_node_loses_nothing(cluster: KafkaCluster, tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(webhook_retry_interval_s=0.5, kafka_settings={
        "LEC_KAFKA_REPLICATION_FACTOR": "3", "LEC_KAFKA_MIN_INSYNC_REPLICAS": "2"})
    stack = Stack(cluster.bootstrap, config, tmp_path)
    stack.start()
    sandboxes, consumer = Sandboxes(stack), f"+1555{uuid.uuid4().int % 10**7:07d}"
    try:
        conversation_id = sandboxes.round_trip(consumer, "before", "reply 1")
        planned = plan("lec-worker", config.partitions, 3, 2)
        partitions, min_isr = described(cluster.bootstrap, planned.names())
        assert set(partitions) == set(planned.names())
        # Faust declared its own topics too: had it named one otherwise than the plan, the cluster would hold it.
        assert topic_names(cluster.bootstrap) - {"__consumer_offsets"} == set(planned.names())
        assert {len(p["replicas"]) for entries in partitions.values() for p in entries} == {3}
        assert set(min_isr.values()) == {"2"}

        victim = cluster.nodes[2]
        victim.kill()
        survivors = ",".join(node.bootstrap for node in cluster.nodes[:2])

        # The controller fences the killed node: every partition it led gets a new leader among the others.
        wait_until(lambda: (leaders(survivors, planned.names()) or {3}) <= {1, 2}, timeout=DEADLINE_S,
                   what="new leaders for the killed node's partitions", interval=1)

        after = [f"after {n}" for n in range(1, 4)]
        for text in after:
            assert sandboxes.consumer_says(consumer, text)["bridge_status"] == 202
        sandboxes.agent_says(conversation_id, "reply 2")
        wait_until(lambda: sandboxes.published_texts(consumer) == ["before", *after], timeout=DEADLINE_S,
                   what="the texts after the kill, once each, in order")
        wait_until(lambda: [m["text"] for m in sandboxes.outbox(consumer)] == ["reply 1", "reply 2"],
                   timeout=DEADLINE_S, what="the reply after the kill")
    finally:
        sandboxes.http.close()
        stack.stop()
