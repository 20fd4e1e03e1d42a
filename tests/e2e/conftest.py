"""End-to-end fixtures: one real Kafka broker and one running stack (bridges, worker, sandboxes) per session.

Each test uses its own consumer ids and conversation ids, so tests share the stack without seeing each other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig
from schemas.codec import codec
from schemas.topics import TopicSpec

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    kafka = KafkaBroker(log_path=tmp_path_factory.mktemp("kafka") / "broker.log")
    kafka.start()
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def stack(broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(broker.bootstrap, StackConfig.on_free_ports(webhook_retry_interval_s=0.5),
                    Path(tmp_path_factory.mktemp("stack")))
    running.start()
    yield running
    running.stop()


class Sandboxes:
    """What a test does and sees at the two sandboxes."""

    def __init__(self, stack: Stack) -> None:
        self.config = stack.config
        self.http = httpx.Client(timeout=10.0)

    def ext_consumer_id(self, consumer: str) -> str:
        return f"{self.config.channel_id}:{consumer}"

    def consumer_says(self, consumer: str, text: str, **extra: Any) -> dict[str, Any]:
        url = f"{self.config.channel_url}/sandbox/consumers/{consumer}/messages"
        answer: dict[str, Any] = self.http.post(url, json={"text": text, **extra}).json()
        return answer

    def send_api_requests(self, consumer: str) -> list[dict[str, Any]]:
        params = {"ext_consumer_id": self.ext_consumer_id(consumer)}
        return list(self.http.get(f"{self.config.liveengage_url}/sandbox/send-api/requests", params=params)
                    .json()["requests"])

    def published_texts(self, consumer: str) -> list[str]:
        return [r["payload"]["body"]["event"]["message"] for r in self.send_api_requests(consumer)
                if r["endpoint"] == "send" and r["payload"]["type"] == "ms.PublishEvent"
                and r["payload"]["body"]["event"]["type"] == "ContentEvent"]

    def conversations(self, consumer: str) -> list[dict[str, Any]]:
        params = {"ext_consumer_id": self.ext_consumer_id(consumer)}
        return list(self.http.get(f"{self.config.liveengage_url}/sandbox/conversations", params=params)
                    .json()["conversations"])

    def agent_says(self, conversation_id: str, text: str) -> dict[str, Any]:
        url = f"{self.config.liveengage_url}/sandbox/conversations/{conversation_id}/agent/messages"
        response = self.http.post(url, json={"text": text})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def outbox(self, consumer: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.config.channel_url}/sandbox/outbox", params={"consumer_id": consumer})
                    .json()["messages"])

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.config.liveengage_url}/sandbox/webhooks/deliveries").json()["deliveries"])


@pytest.fixture
def sandboxes(stack: Stack) -> Iterator[Sandboxes]:
    helper = Sandboxes(stack)
    yield helper
    helper.http.close()


@pytest.fixture
def consumer() -> str:
    """A fresh phone-number-like consumer id per test."""
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


def read_topic(stack: Stack, topic: TopicSpec) -> list[tuple[str, dict[str, Any]]]:
    """Every record in ``topic`` up to its current end, decoded: ``(key, record)`` pairs."""

    partition_count = stack.config.partitions

    async def read() -> list[tuple[str, dict[str, Any]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic.name, p) for p in range(partition_count)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            records: list[tuple[str, dict[str, Any]]] = []
            remaining = {tp for tp in partitions if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, messages in batch.items():
                    for message in messages:
                        records.append((message.key.decode(), codec(topic.value_record).decode(message.value)))
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())
