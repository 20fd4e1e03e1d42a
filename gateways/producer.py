"""The bridges' Kafka producer: idempotent, acks=all, and a publish that returns only once the broker acknowledged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from starlette.applications import Starlette

from gateways import metrics
from gateways.errors import BrokerUnavailableError
from gateways.settings import BridgeSettings
from kafkaclients import KafkaConnection, producer as new_producer
from kafkaclients.probe import diagnose, explain, listed_topics
from schemas.codec import codec
from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)


class EventProducer:
    """Publishes Avro records, keyed, and waits for the broker's acknowledgement.

    ``start()`` keeps retrying in the background until the broker answers and the bridge's topic exists, so a
    bridge can start before Kafka and before the worker created the topic; ``ready`` tells whether it can
    publish, and ``problem`` why not (one line naming the setting to fix: a refused login, an untrusted
    certificate, a missing topic). Publishing before the topic exists would have a broker with
    ``auto.create.topics.enable`` (Kafka's default) create it with one partition, breaking the co-partitioning
    of the worker's topics. ``stop()`` flushes and is safe to call twice.
    """

    def __init__(self, connection: KafkaConnection, topic: TopicSpec, *, timeout_s: float, client_id: str) -> None:
        self._connection = connection
        self._topic = topic
        self._timeout_s = timeout_s
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self.problem: str | None = "not connected to Kafka yet"

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect_until_started())

    async def _connect_until_started(self) -> None:
        delay = 0.2
        while True:
            problem = await self._try_start()
            if problem is None:
                self.problem = None
                logger.info("producer connected to %s", self._connection.kafka_bootstrap)
                return
            if problem != self.problem:  # said once per change, not once per retry
                logger.error("cannot publish to Kafka: %s; retrying", problem)
            self.problem = problem
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _try_start(self) -> str | None:
        """None once the producer runs and the topic exists; else why not."""
        producer = new_producer(
            self._connection,
            client_id=self._client_id,
            enable_idempotence=True,  # implies acks=all; a retried batch is not written twice
            acks="all",
            request_timeout_ms=int(self._timeout_s * 1000),
            linger_ms=1,
        )
        try:
            await producer.start()
            if self._topic.name not in await listed_topics(self._connection):
                await producer.stop()
                return (f"LEC_KAFKA_TOPICS: {self._topic.name} does not exist yet; the worker creates it "
                        f"(LEC_KAFKA_TOPICS=create), or create it (python -m streams topics prints it)")
        except Exception as exc:  # noqa: BLE001 - a token provider may raise anything: keep trying
            await producer.stop()
            # "Unable to bootstrap" hides its cause (a refused login, an untrusted certificate): ask again.
            diagnosed = await diagnose(self._connection) if isinstance(exc, KafkaConnectionError) else None
            return diagnosed or explain(exc, self._connection, self._connection.kafka_bootstrap)
        self._producer = producer
        return None

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, topic: TopicSpec, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Publish ``(key, record)`` pairs to ``topic``; return once every one is acknowledged.

        Raises:
            BrokerUnavailableError: not connected, or some record was not acknowledged within the timeout.
                Records acknowledged before the failure stay in the topic, and one not acknowledged in time may
                still be written later: the sender's retry can then appear twice, which consumers deduplicate.
        """
        producer = self._producer
        if producer is None:
            raise BrokerUnavailableError("Kafka is not reachable yet")
        record_codec = codec(topic.value_record)
        payloads = [(key.encode(), record_codec.encode(record), topic.headers(record) or None)
                    for key, record in records]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                pending = [await producer.send(topic.name, value=value, key=key, headers=headers)
                           for key, value, headers in payloads]
                await asyncio.gather(*pending)
            metrics.KAFKA_ACK_SECONDS.labels(topic.name).observe(time.perf_counter() - started)
            metrics.PRODUCED.labels(topic.name).inc(len(payloads))
        except (KafkaError, TimeoutError) as exc:
            logger.warning("publish to %s failed: %s", topic.name, exc.__class__.__name__)
            raise BrokerUnavailableError(f"Kafka did not acknowledge the event: {exc.__class__.__name__}") from exc


def producer_lifespan(settings: BridgeSettings, topic: TopicSpec,
                      client_id: str) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that owns the bridge's producer of ``topic`` as ``app.state.producer``."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        producer = EventProducer(settings, topic, timeout_s=settings.produce_timeout_s, client_id=client_id)
        app.state.producer = producer
        await producer.start()
        try:
            yield
        finally:
            await producer.stop()

    return lifespan
