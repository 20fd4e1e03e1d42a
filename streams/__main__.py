"""Entry point. ``python -m streams [worker]`` waits for Kafka and creates (or checks) the topics, then runs the
Faust worker until SIGTERM; ``python -m streams register-webhooks`` registers the webhook bridge in each account's
app installation; ``python -m streams topics`` prints the topics and ACLs a cluster needs; ``python -m streams
erase`` has the worker forget one consumer (a data-subject request)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NoReturn

from pydantic import ValidationError

import deadletters
from schemas import registry
from schemas import topics as catalogue
from streams import erasure, http, inspection, registration, topic_plan
from streams.app import create_app, execute
from streams.errors import StreamsError
from streams.liveengage import LiveEngageClient
from streams.preflight import wait_for_kafka
from streams.settings import WorkerSettings
from telemetry import logs, startup
from telemetry.version import version

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped


def build_parser(entry: str | None = None) -> argparse.ArgumentParser:
    """Every command and its arguments, parsed before any setting is read (``--help`` needs none). ``entry``: the
    installed command (``lec-erase``) that runs one of them, named in that one's usage."""
    common: dict[str, Any] = {"epilog": startup.settings_help(WorkerSettings),
                              "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = argparse.ArgumentParser(prog="python -m streams", description="The connector's worker and its tools.",
                                     **common)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if entry == ENTRY_POINTS.get(name):
            kwargs["prog"] = entry
        sub = commands.add_parser(name, **kwargs, **common)
        sub.add_argument("--version", action="version", version=f"%(prog)s {version()}")
        return sub

    command("worker", help="run the worker until SIGTERM (the default command)")
    command("register-webhooks", help="register the webhook bridge in each account's app installation")
    topics_ = command("topics", help="print the topics and the ACLs a cluster needs",
                      description="the topics (with partitions, replication, configs) and the ACLs of each role, from "
                                  "the current LEC_* settings")
    topics_.add_argument("--format", choices=["kafka-cli", "strimzi"], default="kafka-cli")
    topics_.add_argument("--cluster", default="my-cluster", help="Strimzi: the Kafka resource's name")
    topics_.add_argument("--authentication", choices=["scram-sha-512", "tls"], default="scram-sha-512",
                         help="Strimzi: how the KafkaUsers log in")
    letters = command("dead-letters", help="list the dead letters, or replay those of one source")
    letters.add_argument("action", choices=["list", "replay"])
    letters.add_argument("--source", help="the source topic, e.g. lec.channel.inbound (replay needs it)")
    conversations_ = command("conversations", help="show one consumer's conversation state, or list them",
                             description="the state the worker holds, read from its tables' changelogs while it "
                                         "runs; personal data masked unless --show-personal-data")
    conversations_.add_argument("action", choices=["show", "list"])
    which = conversations_.add_mutually_exclusive_group()
    which.add_argument("--consumer", metavar="CHANNEL:ID", help="show: the consumer, as channel id:consumer id")
    which.add_argument("--conversation", metavar="ID", help="show: the consumer of this LiveEngage conversation")
    conversations_.add_argument("--status", choices=["OPENING", "OPEN", "SURVEY", "CLOSED"], help="list: only these")
    conversations_.add_argument("--waiting-longer-than", type=float, metavar="SECONDS",
                                help="list: only those whose oldest queued command waits longer than this")
    conversations_.add_argument("--show-personal-data", action="store_true",
                                help="consumer ids and queued texts unmasked")
    conversations_.add_argument("--json", action="store_true", help="one JSON document instead of text")
    erase_ = command("erase", help="have the worker forget one consumer (a data-subject request)",
                     description="forget everything the worker keeps about one consumer: conversation state, routes, "
                                 "identity, deliveries, opt-out")
    erase_.add_argument("--channel", required=True, help="the channel id, as in LEC_CHANNELS")
    erase_.add_argument("--consumer", required=True, help="the consumer's id on that channel (e.g. a phone number)")
    return parser


def planned_topics(settings: WorkerSettings) -> topic_plan.TopicPlan:
    return topic_plan.plan(settings.app_id, settings.partitions, settings.kafka_replication_factor,
                           settings.kafka_min_insync_replicas)


def run_worker(settings: WorkerSettings) -> int:
    logging.getLogger(__name__).info("worker %s starting", version())
    asyncio.run(wait_for_kafka(settings, planned_topics(settings)))
    app = create_app(settings)
    execute(app, settings.log_level, log_format=settings.log_format)
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


def topics(settings: WorkerSettings, args: argparse.Namespace) -> int:
    plan = planned_topics(settings)
    roles = topic_plan.roles(settings.app_id, worker_creates_topics=settings.kafka_topics == "create")
    if args.format == "strimzi":
        print(topic_plan.strimzi(plan, roles, cluster=args.cluster, authentication=args.authentication), end="")
    else:
        print(topic_plan.kafka_cli(plan, roles), end="")
    return 0


def dead_letters(settings: WorkerSettings, args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            print(asyncio.run(deadletters.list_letters(settings, settings.partitions, settings.app_id,
                                                           args.source)))
            return 0
        if not args.source:
            print("python -m streams dead-letters: replay needs --source", file=sys.stderr)
            return 2
        count = asyncio.run(deadletters.replay(settings, settings.partitions, args.source, settings.app_id))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"replayed {count} dead letters to {args.source}")
    return 0


def conversations(settings: WorkerSettings, args: argparse.Namespace) -> int:
    deployment = inspection.Deployment(settings, settings.app_id, settings.partitions)
    moment = datetime.now(timezone.utc)
    if args.action == "list":
        rows = asyncio.run(inspection.listing(deployment, status=args.status, personal=args.show_personal_data,
                                              waiting_longer_than_s=args.waiting_longer_than, moment=moment))
        print(json.dumps(rows, default=str, indent=1) if args.json else inspection.render_list(rows))
        return 0
    key = args.consumer
    if key is None and args.conversation is None:
        print("python -m streams conversations show: give --consumer CHANNEL:ID or --conversation ID", file=sys.stderr)
        return 2
    if key is None:
        key = asyncio.run(inspection.consumer_of(deployment, args.conversation))
        if key is None:
            print(f"no route for conversation {args.conversation}: not this connector's, or forgotten",
                  file=sys.stderr)
            return 1
    shown = asyncio.run(inspection.show(deployment, key, personal=args.show_personal_data))
    if shown is None:
        print("the worker holds no state for this consumer (never seen, or forgotten)", file=sys.stderr)
        return 1
    print(json.dumps(shown, default=str, indent=1) if args.json else inspection.render(shown, moment))
    return 0


def erase(settings: WorkerSettings, args: argparse.Namespace) -> int:
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


def main(argv: list[str], entry: str | None = None) -> int:
    args = build_parser(entry).parse_args(argv or ["worker"])  # a wrong command or argument exits 2 with the usage
    command = args.command
    commands: dict[str, Callable[[WorkerSettings], int]] = {
        "worker": run_worker, "register-webhooks": register_webhooks,
        "dead-letters": functools.partial(dead_letters, args=args),
        "topics": functools.partial(topics, args=args),
        "erase": functools.partial(erase, args=args),
        "conversations": functools.partial(conversations, args=args),
    }
    try:
        settings = WorkerSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        print(startup.describe_invalid(exc), file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logs.configure(settings.log_level, settings.secrets(), pii=settings.log_pii, log_format=settings.log_format)
    startup.warn_unknown_settings(os.environ)
    try:  # a schema the registry refuses stops the worker before any record is written
        registry.connect(settings, catalogue.value_records() if command in WRITERS else [])
    except registry.RegistryError as exc:
        print(exc, file=sys.stderr)
        return CONFIG_ERROR_EXIT
    return commands[command](settings)


# The installed commands ([project.scripts]), one per command above.
ENTRY_POINTS = {"worker": "lec-worker", "register-webhooks": "lec-register-webhooks", "topics": "lec-topics",
                "dead-letters": "lec-dead-letters", "erase": "lec-erase", "conversations": "lec-conversations"}


def _entry_point(command: str) -> Callable[[], NoReturn]:
    def run() -> NoReturn:
        sys.exit(main([command, *sys.argv[1:]], entry=ENTRY_POINTS[command]))
    return run


worker = _entry_point("worker")
register_webhooks_command = _entry_point("register-webhooks")
topics_command = _entry_point("topics")
dead_letters_command = _entry_point("dead-letters")
erase_command = _entry_point("erase")
conversations_command = _entry_point("conversations")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
