"""``python -m analytics [--bootstrap HOST:PORT] [--json]``: read ``lec.analytics.events`` from its start to its
current end and print per-hour conversation counts and response times."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiokafka import TopicPartition
from pydantic import ValidationError

from analytics.report import hourly, render
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import registry
from schemas.codec import DecodeError, codec
from schemas.registry import RegistrySettings
from schemas.topics import ANALYTICS_EVENTS
from telemetry import startup
from telemetry.version import version


async def partitions_of(connection: KafkaConnection, topic: str) -> list[int]:
    """The topic's partition numbers; none when it does not exist (yet)."""
    admin = kafka.admin_client(connection)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code", 0) != 0:
        return []
    return sorted(partition["partition"] for partition in described.get("partitions", []))


async def read_all(connection: KafkaConnection, topic: str) -> tuple[list[dict[str, Any]], int]:
    """Every decodable record up to the end the topic has now, and how many did not decode."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(connection, topic)]
    if not partitions:
        return [], 0
    consumer = kafka.consumer(connection, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records, undecodable = [], 0
        event_codec = codec(ANALYTICS_EVENTS.value_record)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp]:
                        continue
                    try:
                        records.append(event_codec.decode(message.value))
                    except DecodeError:
                        undecodable += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return records, undecodable
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=startup.settings_help(KafkaConnection) + "\n\n"
                                     + startup.settings_help(RegistrySettings))
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--bootstrap", help="host:port of the brokers; LEC_KAFKA_BOOTSTRAP when unset (and the "
                                            "other LEC_KAFKA_* settings always)")
    parser.add_argument("--topic", default=ANALYTICS_EVENTS.name)
    parser.add_argument("--json", action="store_true", help="one JSON object per hour instead of a table")
    args = parser.parse_args(argv)
    try:
        connection = KafkaConnection(**({"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}))
        registry.connect(RegistrySettings())  # reads the registry's format too when LEC_SCHEMA_REGISTRY_URL is set
    except ValidationError as exc:
        print(startup.describe_invalid(exc), file=sys.stderr)
        return 78
    events, undecodable = asyncio.run(read_all(connection, args.topic))
    rows = hourly(events)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(render(rows))
    if undecodable:
        print(f"{undecodable} record(s) of {args.topic} did not decode as AnalyticsEvent", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
