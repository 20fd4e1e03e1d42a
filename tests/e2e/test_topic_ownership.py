"""Clusters whose topics a platform team owns: with ``LEC_KAFKA_TOPICS=check`` the worker creates nothing, says
exactly which topics are missing or too small, and goes on by itself once ``python -m streams topics``'s
commands, run with Kafka's own kafka-topics tool, have created them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.stack import WORKER_READY, ManagedProcess, Stack, StackConfig
from kafkaclients import KafkaConnection, admin_client
from streams.topic_plan import plan
from tests.conftest import wait_until
from tests.e2e.conftest import kafka_tool

pytestmark = pytest.mark.e2e
APP_ID = "lec-owned"
PARTITIONS = 2


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    # Auto-creation on, as Kafka ships it: checking a missing topic must not create it.
    with KafkaBroker(auto_create_topics=True, log_path=tmp_path_factory.mktemp("owned-kafka") / "broker.log") as kafka:
        yield kafka


def kafka_topics(broker: KafkaBroker, *args: str) -> None:
    kafka_tool("TopicCommand", "--bootstrap-server", broker.bootstrap, *args)


def problem_of(url: str) -> str | None:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=2.0)
    except httpx.HTTPError:
        return None
    return answer.json().get("problem") if answer.status_code == 503 else None


def partition_counts(broker: KafkaBroker, names: list[str]) -> dict[str, int]:
    async def describe() -> dict[str, int]:
        admin = admin_client(KafkaConnection(kafka_bootstrap=broker.bootstrap))
        await admin.start()
        try:  # only listed ones: describing a missing topic would have this broker create it
            present = [name for name in names if name in await admin.list_topics()]
            return {entry["topic"]: len(entry["partitions"]) for entry in await admin.describe_topics(present)
                    if entry["error_code"] == 0} if present else {}
        finally:
            await admin.close()
    return asyncio.run(describe())


def test_check_mode_names_what_is_missing_and_starts_once_the_printed_commands_created_it(
        own_broker: KafkaBroker, tmp_path: Path) -> None:
    stack = Stack(own_broker.bootstrap, StackConfig.on_free_ports(partitions=PARTITIONS, worker_env={
        "LEC_APP_ID": APP_ID, "LEC_KAFKA_TOPICS": "check"}), tmp_path)
    env = stack.worker_env("worker")
    planned = plan(APP_ID, PARTITIONS, 1, 1)
    # A platform team made one topic too small: it is reported as such, not as missing.
    kafka_topics(own_broker, "--create", "--topic", "lec.channel.inbound", "--partitions", "1",
                 "--replication-factor", "1")

    worker = ManagedProcess("worker", [sys.executable, "-m", "streams"], env, tmp_path / "worker.log")
    worker.start()
    url = f"http://127.0.0.1:{stack.worker_port('worker')}"
    # A bridge started first waits for its topic instead of publishing (which would create it here).
    bridge_url = stack.config.webhook_bridge_url
    bridge = ManagedProcess("webhook-bridge", [sys.executable, "-m", "gateways", "liveengage", "--port",
                                               str(stack.config.webhook_bridge_port)], stack.connector_env(),
                            tmp_path / "bridge.log")
    bridge.start()
    try:
        waiting = wait_until(lambda: (problem_of(bridge_url) or "").startswith("LEC_KAFKA_TOPICS") and
                             problem_of(bridge_url), timeout=60, what="the bridge waiting for its topic")
        assert waiting == ("LEC_KAFKA_TOPICS: lec.liveengage.events does not exist yet; the worker creates it "
                           "(LEC_KAFKA_TOPICS=create), or create it (python -m streams topics prints it)")
        problem = wait_until(lambda: problem_of(url) if (problem_of(url) or "").startswith("LEC_KAFKA_TOPICS")
                             else None, timeout=60, what="the worker's topic problem")
        assert problem.startswith(f"LEC_KAFKA_TOPICS=check: {len(planned.topics)} topic(s) not ready: "), problem
        assert "lec.channel.inbound (1 partitions, needs 2)" in problem
        for topic in planned.topics:
            if topic.name != "lec.channel.inbound":
                assert f"{topic.name} (missing)" in problem
        assert partition_counts(own_broker, planned.names()) == {"lec.channel.inbound": 1}  # it created nothing

        printed = subprocess.run([sys.executable, "-m", "streams", "topics"], env=env, capture_output=True,
                                 text=True, timeout=60, check=True).stdout
        creations = [line for line in printed.splitlines() if line.startswith("kafka-topics.sh ")]
        assert len(creations) == len(planned.topics)
        for line in creations:  # verbatim, as a platform team would paste them
            arguments = line.split()[1:]
            assert arguments[:2] == ["--bootstrap-server", "$BOOTSTRAP"]
            kafka_topics(own_broker, *arguments[2:])
        kafka_topics(own_broker, "--alter", "--topic", "lec.channel.inbound", "--partitions", "2")

        worker.wait_log(WORKER_READY, timeout=120)
        assert httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
        counts = partition_counts(own_broker, planned.names())
        assert counts == {topic.name: topic.partitions for topic in planned.topics}
        assert "Creating topic" not in worker.log() and "creating topics" not in worker.log()
        bridge.wait_http(f"{bridge_url}/readyz")
    finally:
        bridge.stop()
        worker.stop()
