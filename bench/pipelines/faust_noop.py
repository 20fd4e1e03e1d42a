"""Faust's floor on this machine: an agent that does nothing with its records but count them. No pipeline built
on Faust's streams can go faster than this one reads."""

from __future__ import annotations

from typing import Any

from bench.pipelines.faust_app import bench_app, run
from bench.pipelines.work import Progress, arguments


def main() -> None:
    bootstrap, source, target, records, group = arguments()
    app, _state, inputs, _outputs = bench_app(bootstrap, group, source, target)
    progress = Progress(records)

    @app.agent(inputs, name="bench_pipeline")
    async def pipeline(stream: Any) -> None:
        async for _event in stream.events():
            progress.one()

    run(app)


if __name__ == "__main__":
    main()
