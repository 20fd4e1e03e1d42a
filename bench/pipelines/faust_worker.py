"""The connector's way: a Faust agent run through the worker's own record handling (``DeadLetters.consume``: in
order per partition, commits only over records carried out, table writes acknowledged by Kafka before the ack), a
changelog-backed table for the state, each output published and acknowledged before the record counts as done,
and the worker's commit setting."""

from __future__ import annotations

import json
from typing import Any

from faust.types import EventT

from bench.pipelines.faust_app import bench_app, run
from bench.pipelines.work import Progress, arguments, transform
from kafkaclients import KafkaConnection
from streams.engine.deadletters import DeadLetters, HandledOnlyEvent
from streams.settings import WorkerSettings
from streams.engine.topics import publish, set_publish_patience


def main() -> None:
    bootstrap, source, target, records, group = arguments()
    defaults = WorkerSettings.model_fields
    connection = KafkaConnection(kafka_bootstrap=bootstrap)
    app, state, inputs, outputs = bench_app(bootstrap, group, source, target, Event=HandledOnlyEvent,
                                            broker_commit_every=defaults["commit_every"].default)
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

    run(app)


if __name__ == "__main__":
    main()
