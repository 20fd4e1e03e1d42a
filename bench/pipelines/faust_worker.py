"""The connector's way: a Faust agent run through the worker's own record handling (``DeadLetters.consume``: in
order per partition, commits only over records carried out, table writes acknowledged by Kafka before the ack), a
changelog-backed table for the state, each output published and acknowledged before the record counts as done,
and the worker's commit setting."""

from __future__ import annotations

import json
import logging
from typing import Any

import faust
from faust.types import EventT

from bench.pipelines.work import Progress, arguments, transform
from kafkaclients import KafkaConnection, faust_options
from streams.app import execute
from streams.deadletters import DeadLetters, HandledOnlyEvent
from streams.settings import WorkerSettings
from streams.topics import publish, set_publish_patience


def main() -> None:
    bootstrap, source, target, records, group = arguments()
    defaults = WorkerSettings.model_fields
    connection = KafkaConnection(kafka_bootstrap=bootstrap)
    app = faust.App(group, **faust_options(connection), store="memory://", topic_partitions=6,
                    topic_replication_factor=1, autodiscover=False, web_enabled=False,
                    consumer_auto_offset_reset="earliest", producer_acks=-1,
                    broker_commit_every=defaults["commit_every"].default, Event=HandledOnlyEvent)
    state = app.Table("bench-state", default=None, key_type=str, value_type=bytes, partitions=6)
    # As the worker declares its topics (streams.topics.as_faust_topic): raw bytes, string keys.
    inputs = app.topic(source, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")
    outputs = app.topic(target, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")
    set_publish_patience(30.0)
    dead_letters = DeadLetters(app, connection, in_flight=defaults["in_flight"].default)
    progress = Progress(records)

    async def carry_out(event: EventT[bytes]) -> None:
        key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
        held = state.get(key)
        current: dict[str, Any] | None = json.loads(held) if held else None
        new_state, value = transform(event.value, current)
        state[key] = json.dumps(new_state).encode()
        await publish(outputs, key, value)
        progress.one()

    @app.agent(inputs, name="bench_pipeline")
    async def pipeline(stream: Any) -> None:
        await dead_letters.consume(stream, carry_out)

    logging.getLogger("faust").setLevel(logging.WARNING)
    execute(app, "warning", quiet=True)


if __name__ == "__main__":
    main()
