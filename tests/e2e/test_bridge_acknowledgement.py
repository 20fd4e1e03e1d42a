"""A bridge answers 2xx only once Kafka acknowledged the record, and 503 while Kafka cannot take it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.ports import free_port
from devstack.stack import ManagedProcess, StackConfig
from emulators.liveengage.webhooks import Signing
from schemas.codec import codec
from schemas.topics import CHANNEL_INBOUND
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from streams.provision import prepare_topics
from streams.topic_plan import plan
from tests.conftest import generic_channel, wait_until

pytestmark = pytest.mark.e2e
SECRET = "bridge-test-secret"
PRODUCE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A broker of this module's own, since the test stops it."""
    with KafkaBroker(log_path=tmp_path_factory.mktemp("own-kafka") / "broker.log") as broker:
        asyncio.run(prepare_topics(KafkaConnection(kafka_bootstrap=broker.bootstrap), plan("lec-worker", 1, 1, 1),
                                  create=True))
        yield broker


@pytest.fixture(scope="module")
def bridge_url(own_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LEC_KAFKA_BOOTSTRAP": own_broker.bootstrap, "LEC_PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S),
           "LEC_CHANNELS": json.dumps({"sms": generic_channel(SECRET)})}
    bridge = ManagedProcess("channel-bridge", [sys.executable, "-m", "gateways", "channel", "--port", str(port)], env,
                            Path(tmp_path_factory.mktemp("bridge")) / "bridge.log")
    bridge.start()
    url = StackConfig().url(port)
    bridge.wait_http(f"{url}/readyz")
    yield url
    bridge.stop()


def post(url: str, message_id: str) -> httpx.Response:
    body = json.dumps({"message_id": message_id, "consumer_id": "c", "text": "hi",
                       "timestamp": int(time.time() * 1000)}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-channel-signature": signature}
    return httpx.post(f"{url}/v1/channels/sms/messages", content=body, headers=headers, timeout=30)


def ids_in_topic(broker: KafkaBroker) -> list[str]:
    from aiokafka import TopicPartition

    async def read() -> list[str]:
        consumer = kafka.consumer(KafkaConnection(kafka_bootstrap=broker.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(CHANNEL_INBOUND.name, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            ids = []
            while await consumer.position(partition) < end:
                for message in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                    ids.append(codec(CHANNEL_INBOUND.value_record).decode(message.value)["event_id"])
            return ids
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_acknowledged_only_when_kafka_has_it(own_broker: KafkaBroker, bridge_url: str) -> None:
    before, during, after = (f"{name}-{uuid.uuid4()}" for name in ("before", "during", "after"))
    assert post(bridge_url, before).status_code == 202

    own_broker.pause()  # SIGSTOP: a hung broker (GC pause, partition)
    try:
        started = time.monotonic()
        refused = post(bridge_url, during)
        waited = time.monotonic() - started
    finally:
        own_broker.resume()
    assert refused.status_code == 503
    assert refused.json()["error"] == "broker_unavailable" and refused.headers["retry-after"] == "1"
    assert waited < PRODUCE_TIMEOUT_S + 3

    # The bridge recovers by itself once the broker answers again.
    wait_until(lambda: post(bridge_url, after).status_code == 202, timeout=60, what="a 202 after resume")
    ids = ids_in_topic(own_broker)
    assert before in ids and after in ids
    assert ids.count(before) == 1


@pytest.fixture(scope="module")
def webhook_bridge_url(own_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A webhook bridge on its default produce timeout."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "LEC_PRODUCE_TIMEOUT_S"}
    env |= {"LEC_KAFKA_BOOTSTRAP": own_broker.bootstrap,
            "LEC_LIVEENGAGE_ACCOUNTS": json.dumps({"74839201": {"client_id": "app", "client_secret": SECRET}})}
    bridge = ManagedProcess("webhook-bridge", [sys.executable, "-m", "gateways", "liveengage", "--port", str(port)],
                            env, Path(tmp_path_factory.mktemp("webhook-bridge")) / "bridge.log")
    bridge.start()
    url = StackConfig().url(port)
    bridge.wait_http(f"{url}/readyz")
    yield url
    bridge.stop()


def test_webhook_answered_within_liveengages_deadline_when_kafka_hangs(own_broker: KafkaBroker,
                                                                       webhook_bridge_url: str) -> None:
    """LiveEngage wants an answer within 2.5 s (Webhooks/notification-protocol.md): a fast 503, not a late one."""
    change = {"sequence": 1, "originatorId": "a", "originatorMetadata": {"id": "a", "role": "ASSIGNED_AGENT"},
              "serverTimestamp": 1717430401234, "dialogId": f"c-{uuid.uuid4()}",
              "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"}}
    body = json.dumps({"kind": "notification", "type": "ms.MessagingEventNotification",
                       "body": {"changes": [change]}}).encode()
    headers = {"content-type": "application/json", "x-liveperson-account-id": "74839201",
               "x-liveperson-client-id": "app", "x-liveperson-signature": Signing().header(SECRET, body)}
    url = f"{webhook_bridge_url}/v1/liveengage/webhooks"
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code == 200
    own_broker.pause()
    try:
        started = time.monotonic()
        refused = httpx.post(url, content=body, headers=headers, timeout=30)
        waited = time.monotonic() - started
    finally:
        own_broker.resume()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert waited < 2.5, f"answered after {waited:.2f}s"
