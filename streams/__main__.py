"""Entry point. ``python -m streams [worker]`` creates the topics, then runs the Faust worker until SIGTERM;
``python -m streams register-webhooks`` registers the webhook bridge in each account's app installation."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable

import faust
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from streams import deadletter_tool, http, registration
from streams.app import create_app
from streams.errors import StreamsError
from streams.liveengage import LiveEngageClient
from streams.provision import ensure_topics
from streams.settings import WorkerSettings
from telemetry import logs

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped
BROKER_ERROR_EXIT = 69  # EX_UNAVAILABLE
USAGE = ("usage: python -m streams [worker | register-webhooks | dead-letters list [--source TOPIC] | "
         "dead-letters replay --source TOPIC]")


def run_worker(settings: WorkerSettings) -> int:
    try:
        asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.partitions))
    except KafkaError as exc:
        print(f"Kafka at {settings.kafka_bootstrap} unavailable: {exc.__class__.__name__}", file=sys.stderr)
        return BROKER_ERROR_EXIT
    app = create_app(settings)
    # The Worker owns the event loop, handles SIGTERM/SIGINT by stopping the app cleanly, and exits the process.
    faust.Worker(app, loglevel=settings.log_level).execute_from_commandline()
    return 0


def register_webhooks(settings: WorkerSettings) -> int:
    async def run() -> str:
        async with http.new_client(settings.http_timeout_s) as client:
            return registration.describe(await registration.register(LiveEngageClient(client, settings), settings))

    try:
        print(asyncio.run(run()))
    except StreamsError as exc:
        print(f"registration failed: {exc}", file=sys.stderr)
        return 1
    return 0


def dead_letters(settings: WorkerSettings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams dead-letters")
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--source", help="the source topic, e.g. lec.channel.inbound")
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            print(asyncio.run(deadletter_tool.list_letters(settings.kafka_bootstrap, settings.partitions,
                                                           settings.app_id, args.source)))
            return 0
        if not args.source:
            parser.error("replay needs --source")
        count = asyncio.run(deadletter_tool.replay(settings.kafka_bootstrap, settings.partitions, args.source,
                                                   settings.app_id))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"replayed {count} dead letters to {args.source}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "worker"
    commands: dict[str, Callable[[WorkerSettings], int]] = {
        "worker": run_worker, "register-webhooks": register_webhooks,
        "dead-letters": functools.partial(dead_letters, argv=argv[1:]),
    }
    if command not in commands:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = WorkerSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        print(f"configuration error (LEC_* variables): {problems}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logs.configure(settings.log_level, settings.secrets(), pii=settings.log_pii)
    return commands[command](settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
