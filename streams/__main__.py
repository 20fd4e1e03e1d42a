"""Entry point: ``python -m streams`` creates the topics, then runs the Faust worker until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

import faust

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from streams.app import create_app
from streams.provision import ensure_topics
from streams.settings import WorkerSettings

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped
BROKER_ERROR_EXIT = 69  # EX_UNAVAILABLE


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = WorkerSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        print(f"configuration error (LEC_* variables): {problems}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    try:
        asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.partitions))
    except KafkaError as exc:
        print(f"Kafka at {settings.kafka_bootstrap} unavailable: {exc.__class__.__name__}", file=sys.stderr)
        return BROKER_ERROR_EXIT
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request is noise at volume
    app = create_app(settings)
    # The Worker owns the event loop, handles SIGTERM/SIGINT by stopping the app cleanly, and exits the process.
    faust.Worker(app, loglevel=settings.log_level).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
