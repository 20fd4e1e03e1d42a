"""Reads the connector's topics from Kafka for the flow pane and hands every changed flow to the pages watching.

It reads without a consumer group (it commits nothing and takes no partition from the worker), from a little
before each partition's end when it starts, so a page opened now also shows the latest flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from console.flows import DEAD_LETTER_TOPICS, FlowBook
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import topics as catalogue
from schemas.codec import DecodeError, codec

logger = logging.getLogger(__name__)

WATCHED = {spec.name: spec.value_record for spec in (
    catalogue.CHANNEL_INBOUND, catalogue.LIVEENGAGE_COMMANDS, catalogue.LIVEENGAGE_RETRIES,
    catalogue.LIVEENGAGE_EVENTS, catalogue.CHANNEL_OUTBOUND, catalogue.ANALYTICS_EVENTS)} | {
    name: "DeadLetter" for name in DEAD_LETTER_TOPICS}
BACKLOG = 100  # records per partition read from before the end at start


class FlowFeed:
    """One Kafka reader feeding a FlowBook; each subscriber gets every changed flow as JSON on its queue."""

    def __init__(self, connection: KafkaConnection, partitions: int) -> None:
        self._connection = connection
        self._partition_count = partitions
        self.book = FlowBook()
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:  # Kafka away, or the worker has not created the topics yet: try again
            try:
                await self._read()
            except KafkaError as exc:
                logger.warning("flow feed: Kafka failed (%s); reading again shortly", exc.__class__.__name__)
                await asyncio.sleep(2)

    async def _read(self) -> None:
        consumer = kafka.consumer(self._connection, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(ends[tp] - BACKLOG, 0))
            decoders = {name: codec(record) for name, record in WATCHED.items()}
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, messages in batches.items():
                    for message in messages:
                        try:
                            record = decoders[tp.topic].decode(message.value)
                        except DecodeError:
                            continue  # a poison record: its dead letter shows it
                        flow = self.book.add(tp.topic, tp.partition, message.offset, message.timestamp, record)
                        if flow is not None:
                            self._publish(flow.as_json())
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the watched topics, once the worker has created them all."""
        while not set(WATCHED) <= await consumer.topics():
            await asyncio.sleep(1)
        return [TopicPartition(topic, p) for topic in WATCHED for p in range(self._partition_count)]

    def _publish(self, flow: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a page that stopped reading: it reloads the whole list when it comes back
                self._subscribers.discard(queue)
            else:
                queue.put_nowait(flow)
