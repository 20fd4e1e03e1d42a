"""The baseline: a plain aiokafka consume → transform → produce loop with a dict for state, committing every 2.8 s
or 10,000 records (Faust's defaults), producer acks=all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.pipelines.work import Progress, arguments, transform
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka


async def main() -> None:
    bootstrap, source, target, records, group = arguments()
    connection = KafkaConnection(kafka_bootstrap=bootstrap)
    consumer = kafka.consumer(connection, source, group_id=group, enable_auto_commit=False,
                              auto_offset_reset="earliest")
    producer = kafka.producer(connection, acks="all", linger_ms=5, max_batch_size=65536)
    await consumer.start()
    await producer.start()
    state: dict[bytes, dict[str, Any]] = {}
    progress = Progress(records)
    uncommitted, last_commit = 0, time.monotonic()
    while True:
        batches = await consumer.getmany(timeout_ms=1000)
        for messages in batches.values():
            for message in messages:
                key = message.key or b""
                state[key], value = transform(message.value or b"", state.get(key))
                await producer.send(target, value, key=key)
                uncommitted += 1
                progress_due = progress.done + 1 >= progress.target
                if progress_due:
                    await producer.flush()
                progress.one()
        if uncommitted >= 10_000 or time.monotonic() - last_commit > 2.8:
            await producer.flush()
            await consumer.commit()
            uncommitted, last_commit = 0, time.monotonic()


if __name__ == "__main__":
    asyncio.run(main())
