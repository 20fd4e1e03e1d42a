"""Faust's own idiom for the same work, without the connector's guarantee: the agent updates the table and sends
its output without waiting for Kafka's acknowledgement, and Faust commits what its streams have moved past. The
distance between this and ``faust_worker`` is what the guarantee costs; between this and the raw loop, Faust's."""

from __future__ import annotations

import json
from typing import Any

from bench.pipelines.faust_app import bench_app, run
from bench.pipelines.work import Progress, arguments, transform


def main() -> None:
    bootstrap, source, target, records, group = arguments()
    app, state, inputs, outputs = bench_app(bootstrap, group, source, target)
    progress = Progress(records)

    @app.agent(inputs, name="bench_pipeline")
    async def pipeline(stream: Any) -> None:
        async for event in stream.events():
            key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            held = state.get(key)
            new_state, value = transform(event.value, json.loads(held) if held else None)
            state[key] = json.dumps(new_state).encode()
            await outputs.send(key=key, value=value)
            progress.one()

    run(app)


if __name__ == "__main__":
    main()
