"""End-to-end fixtures: one real Kafka broker and one running stack (bridges, worker, sandboxes) per session.

Each test uses its own consumer ids and conversation ids, so tests share the stack without seeing each other.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from devstack.broker import KafkaBroker, ensure_tools
from devstack.stack import SandboxAccount, Stack, StackConfig, TwilioChannel
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas.codec import DecodeError, codec
from schemas.topics import TopicSpec
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0
SECOND_BRAND = "87654321"  # a second LiveEngage account in the shared stack
HTTP_TIMEOUT_S = 4.0  # the shared stack worker's Send API timeout; short, so timeout faults are quick to test


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    kafka = KafkaBroker(log_path=tmp_path_factory.mktemp("kafka") / "broker.log")
    kafka.start()
    yield kafka
    kafka.stop()


ROTATED_OUT_CHANNEL_SECRET = "the-channel-secret-being-replaced"
ROTATED_OUT_CLIENT_SECRET = "the-client-secret-being-replaced"


@pytest.fixture(scope="session")
def stack(broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Two brands: the stack's own account with the generic channel and two Twilio numbers, and a second account
    # with one number of its own.
    config = StackConfig.on_free_ports(
        webhook_retry_interval_s=0.5, retry_delays_s=[0.3, 0.6, 1.2], body_timeout_s=2.0,
        worker_env={"LEC_HTTP_TIMEOUT_S": str(HTTP_TIMEOUT_S), "LEC_FOREIGN_EVENT_MAX_AGE_S": "10"},
        twilio_channels=[TwilioChannel("sandbox-twilio", "+15550100"), TwilioChannel("brand-a-2", "+15550101"),
                         TwilioChannel("brand-b", "+15550200", account_id=SECOND_BRAND)],
        extra_accounts=[SandboxAccount(SECOND_BRAND)],
        # A secret rotation under way on the first brand (tests/e2e/test_secret_rotation.py).
        previous_channel_secret=ROTATED_OUT_CHANNEL_SECRET, previous_client_secret=ROTATED_OUT_CLIENT_SECRET)
    running = Stack(broker.bootstrap, config, Path(tmp_path_factory.mktemp("stack")))
    running.start()
    yield running
    running.stop()


@contextmanager
def stack_of_its_own(tmp_path_factory: pytest.TempPathFactory, name: str, **config: Any) -> Iterator[Stack]:
    """A broker and a stack for one module whose settings differ from the session's (``config``: StackConfig
    overrides), stopped after it."""
    with KafkaBroker(log_path=tmp_path_factory.mktemp(f"{name}-kafka") / "broker.log") as broker:
        running = Stack(broker.bootstrap, StackConfig.on_free_ports(**config),
                        Path(tmp_path_factory.mktemp(f"{name}-stack")))
        try:
            running.start()
            yield running
        finally:
            running.stop()


class Sandboxes:
    """What a test does and sees at the two sandboxes."""

    def __init__(self, stack: Stack, channel_id: str | None = None) -> None:
        self.config = stack.config
        self.channel_id = channel_id or stack.config.channel_id
        twilio = {t.channel_id: t for t in stack.config.twilio_channels}
        self.accepted_status = 200 if self.channel_id in twilio else 202  # what the bridge answers the gateway
        account = twilio[self.channel_id].account_id if self.channel_id in twilio else None
        self.liveengage_url = stack.liveengage_url_of(account or stack.config.account_id)  # the brand's sandbox
        self.http = httpx.Client(timeout=10.0)

    def ext_consumer_id(self, consumer: str) -> str:
        return f"{self.channel_id}:{consumer}"

    def consumer_says(self, consumer: str, text: str, **extra: Any) -> dict[str, Any]:
        return self.consumer_does(consumer, text=text, **extra)

    def consumer_does(self, consumer: str, **body: Any) -> dict[str, Any]:
        """The consumer acts through the channel sandbox (any type of the generic channel API; text and file
        on a Twilio channel)."""
        url = f"{self.config.channel_url}/sandbox/consumers/{consumer}/messages"
        answer: dict[str, Any] = self.http.post(url, json=body, params={"channel_id": self.channel_id}).json()
        assert answer.get("bridge_status") == self.accepted_status, answer
        return answer

    def send_api_requests(self, consumer: str) -> list[dict[str, Any]]:
        params = {"ext_consumer_id": self.ext_consumer_id(consumer)}
        return list(self.http.get(f"{self.liveengage_url}/sandbox/send-api/requests", params=params)
                    .json()["requests"])

    def effects(self, consumer: str) -> list[str]:
        """Texts as they stand in the consumer's conversations (what LiveEngage accepted), in order."""
        return [e["event"]["message"] for c in self.conversations(consumer) for d in c["dialogs"]
                for e in d["events"] if e["event"].get("contentType") == "text/plain"]

    def published_events(self, consumer: str, event_type: str = "ContentEvent") -> list[dict[str, Any]]:
        """The ``body`` of every PublishEvent of this type the sandbox received from the consumer, in order."""
        return [r["payload"]["body"] for r in self.send_api_requests(consumer)
                if r["endpoint"] == "send" and r["payload"]["type"] == "ms.PublishEvent"
                and r["payload"]["body"]["event"]["type"] == event_type]

    def published_texts(self, consumer: str) -> list[str]:
        return [body["event"]["message"] for body in self.published_events(consumer)
                if body["event"].get("contentType") == "text/plain"]

    def conversation_requests(self, consumer: str, field: str) -> list[dict[str, Any]]:
        """The conversationField of every cm.UpdateConversationField with this field, in order."""
        return [r["payload"]["body"] for r in self.send_api_requests(consumer)
                if r["endpoint"] == "send" and r["payload"]["type"] == "cm.UpdateConversationField"
                and r["payload"]["body"]["conversationField"]["field"] == field]

    def conversations(self, consumer: str) -> list[dict[str, Any]]:
        params = {"ext_consumer_id": self.ext_consumer_id(consumer)}
        return list(self.http.get(f"{self.liveengage_url}/sandbox/conversations", params=params)
                    .json()["conversations"])

    def agent_says(self, conversation_id: str, text: str) -> dict[str, Any]:
        return self.agent(conversation_id, "messages", text=text)

    def agent(self, conversation_id: str, action: str, **body: Any) -> dict[str, Any]:
        """An agent action in the LiveEngage sandbox's console: messages, receipts, typing, transfer, close, ..."""
        url = f"{self.liveengage_url}/sandbox/conversations/{conversation_id}/agent/{action}"
        response = self.http.post(url, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def open_conversation(self, consumer: str, text: str = "Hello") -> str:
        """The consumer writes; wait until the sandbox has the text; return the conversation id."""
        self.consumer_says(consumer, text)
        wait_until(lambda: text in self.published_texts(consumer), timeout=DEADLINE_S, what="the first text")
        return str(self.conversations(consumer)[-1]["conversation_id"])

    def round_trip(self, consumer: str, text: str, reply: str) -> str:
        """The consumer writes, the agent answers; wait until the answer is in the consumer's outbox (alone)."""
        conversation_id = self.open_conversation(consumer, text)
        self.agent_says(conversation_id, reply)
        wait_until(lambda: [m["text"] for m in self.outbox(consumer)] == [reply], timeout=DEADLINE_S,
                   what="the agent's reply at the channel")
        return conversation_id

    def outbox(self, consumer: str) -> list[dict[str, Any]]:
        params = {"consumer_id": consumer, "channel_id": self.channel_id}
        return list(self.http.get(f"{self.config.channel_url}/sandbox/outbox", params=params).json()["messages"])

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.liveengage_url}/sandbox/webhooks/deliveries").json()["deliveries"])


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
    """Every record in ``topic`` up to its current end, decoded: ``(key, record)`` pairs. Records that do not
    decode (other tests' poison records) are left out."""
    return [(key, record) for key, record, _ in read_topic_with_headers(stack, topic)]


def read_topic_with_headers(stack: Stack, topic: TopicSpec) -> list[tuple[str, dict[str, Any], dict[str, bytes]]]:
    """As ``read_topic``, with each record's headers."""
    records: list[tuple[str, dict[str, Any], dict[str, bytes]]] = []
    for message in read_messages(stack, topic.name):
        try:
            records.append((message.key.decode(), codec(topic.value_record).decode(message.value),
                            dict(message.headers or ())))
        except DecodeError:
            continue
    return records


def read_messages(stack: Stack, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record in ``topic`` up to its current end, undecoded, in order per partition."""

    async def read() -> list[ConsumerRecord[bytes, bytes]]:
        consumer = kafka.consumer(KafkaConnection(kafka_bootstrap=stack.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(stack.config.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            messages: list[ConsumerRecord[bytes, bytes]] = []
            remaining = {tp for tp in partitions if end[tp] > 0}
            while remaining:
                for tp, batch in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                    messages.extend(batch)
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            return messages
        finally:
            await consumer.stop()

    return asyncio.run(read())


def end_offsets(stack: Stack, topic: str) -> dict[int, int]:
    """The end offset of each partition of ``topic``: 0 for a partition nothing was written to."""

    async def read() -> dict[int, int]:
        consumer = kafka.consumer(KafkaConnection(kafka_bootstrap=stack.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(stack.config.partitions)]
            return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def produce_raw(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    """Write bytes to a topic directly, as a misbehaving producer would (for poison records)."""

    async def send() -> None:
        producer = kafka.producer(KafkaConnection(kafka_bootstrap=bootstrap), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=key.encode(), value=value)
        finally:
            await producer.stop()

    asyncio.run(send())


def kafka_tool(main_class: str, *arguments: str) -> str:
    """Run one of Kafka's own command-line tools (``org.apache.kafka.tools.*``); return what it printed."""
    done = subprocess.run(["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{ensure_tools()}/*",
                           f"org.apache.kafka.tools.{main_class}", *arguments], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
