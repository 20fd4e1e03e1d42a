"""Entry point. ``python -m streams [worker]`` waits for Kafka and creates (or checks) the topics, then runs the
Faust worker until SIGTERM; ``python -m streams register-webhooks`` registers the webhook bridge in each account's
app installation; ``python -m streams topics`` prints the topics and ACLs a cluster needs; ``python -m streams
erase`` has the worker forget one consumer (a data-subject request)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from collections.abc import Callable

from pydantic import ValidationError

import deadletters
from schemas import registry
from schemas import topics as catalogue
from streams import erasure, http, registration, topic_plan
from streams.app import create_app, execute
from streams.errors import StreamsError
from streams.liveengage import LiveEngageClient
from streams.preflight import wait_for_kafka
from streams.settings import WorkerSettings
from telemetry import logs, startup

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped
USAGE = ("usage: python -m streams [worker | register-webhooks | topics [--format kafka-cli|strimzi] | "
         "dead-letters list [--source TOPIC] | dead-letters replay --source TOPIC | "
         "erase --channel CHANNEL --consumer ID]")


def planned_topics(settings: WorkerSettings) -> topic_plan.TopicPlan:
    return topic_plan.plan(settings.app_id, settings.partitions, settings.kafka_replication_factor,
                           settings.kafka_min_insync_replicas)


def run_worker(settings: WorkerSettings) -> int:
    asyncio.run(wait_for_kafka(settings, planned_topics(settings)))
    app = create_app(settings)
    execute(app, settings.log_level)
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


def topics(settings: WorkerSettings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams topics",
                                     description="the topics (with partitions, replication, configs) and the ACLs "
                                                 "of each role, from the current LEC_* settings")
    parser.add_argument("--format", choices=["kafka-cli", "strimzi"], default="kafka-cli")
    parser.add_argument("--cluster", default="my-cluster", help="Strimzi: the Kafka resource's name")
    parser.add_argument("--authentication", choices=["scram-sha-512", "tls"], default="scram-sha-512",
                        help="Strimzi: how the KafkaUsers log in")
    args = parser.parse_args(argv)
    plan = planned_topics(settings)
    roles = topic_plan.roles(settings.app_id, worker_creates_topics=settings.kafka_topics == "create")
    if args.format == "strimzi":
        print(topic_plan.strimzi(plan, roles, cluster=args.cluster, authentication=args.authentication), end="")
    else:
        print(topic_plan.kafka_cli(plan, roles), end="")
    return 0


def dead_letters(settings: WorkerSettings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams dead-letters")
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--source", help="the source topic, e.g. lec.channel.inbound")
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            print(asyncio.run(deadletters.list_letters(settings, settings.partitions, settings.app_id,
                                                           args.source)))
            return 0
        if not args.source:
            parser.error("replay needs --source")
        count = asyncio.run(deadletters.replay(settings, settings.partitions, args.source, settings.app_id))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"replayed {count} dead letters to {args.source}")
    return 0


def erase(settings: WorkerSettings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams erase",
                                     description="forget everything the worker keeps about one consumer: "
                                                 "conversation state, routes, identity, deliveries, opt-out")
    parser.add_argument("--channel", required=True, help="the channel id, as in LEC_CHANNELS")
    parser.add_argument("--consumer", required=True, help="the consumer's id on that channel (e.g. a phone number)")
    args = parser.parse_args(argv)
    try:
        command_id = asyncio.run(erasure.request_erasure(settings, args.channel, args.consumer))
    except erasure.UnknownChannelError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"erasure requested ({command_id}): the worker forgets the consumer once it reaches the request")
    return 0


# The commands that encode records register their schemas (a dead-letter replay sends the bytes it finds). The
# worker's tables stay in single-object encoding (state must not depend on the registry): no changelog subjects.
WRITERS = ("worker", "erase")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "worker"
    commands: dict[str, Callable[[WorkerSettings], int]] = {
        "worker": run_worker, "register-webhooks": register_webhooks,
        "dead-letters": functools.partial(dead_letters, argv=argv[1:]),
        "topics": functools.partial(topics, argv=argv[1:]),
        "erase": functools.partial(erase, argv=argv[1:]),
    }
    if command not in commands:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = WorkerSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        print(startup.describe_invalid(exc), file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logs.configure(settings.log_level, settings.secrets(), pii=settings.log_pii)
    startup.warn_unknown_settings(os.environ)
    try:  # a schema the registry refuses stops the worker before any record is written
        registry.connect(settings, catalogue.value_records() if command in WRITERS else [])
    except registry.RegistryError as exc:
        print(exc, file=sys.stderr)
        return CONFIG_ERROR_EXIT
    return commands[command](settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
