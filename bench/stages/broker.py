"""Stage 1, the broker's ceiling: Kafka's own producer and consumer perf tools (JVM, from the same Maven-resolved
release as the broker) at the record sizes the connector writes. Everything Python is compared against this."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from aiokafka.admin import NewTopic

from bench.harness import GENERATOR_CORE, Series, pinned
from bench.profile import Profile
from devstack.broker import KafkaBroker, ensure_tools
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka

RECORD_SIZES = (300, 1000)  # bytes: a typical channel text record, and a large one with SDEs or a long text
PRODUCER_SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg "
                              r"latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th")


def java(tools: Path, main_class: str, *args: str) -> str:
    command = pinned(["java", "-Xmx512m", "-cp", f"{tools}/*", main_class, *args], str(GENERATOR_CORE))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{main_class} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = kafka.admin_client(KafkaConnection(kafka_bootstrap=bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


def produce(tools: Path, bootstrap: str, topic: str, records: int, size: int) -> dict[str, float]:
    out = java(tools, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records",
               str(records), "--record-size", str(size), "--throughput", "-1", "--producer-props",
               f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5", "batch.size=65536")
    match = PRODUCER_SUMMARY.search(out)
    if match is None:
        raise RuntimeError(f"ProducerPerformance printed no summary:\n{out[-2000:]}")
    return {"per_second": float(match[2]), "mb_per_second": float(match[3]), "p50_ms": float(match[6]),
            "p99_ms": float(match[8])}


def consume(tools: Path, bootstrap: str, topic: str, records: int) -> dict[str, float]:
    out = java(tools, "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic",
               topic, "--messages", str(records), "--group", f"bench-{uuid.uuid4().hex[:8]}")
    rows = [line.split(",") for line in out.strip().splitlines() if line and line[0].isdigit()]
    if not rows:
        raise RuntimeError(f"ConsumerPerformance printed no result:\n{out[-2000:]}")
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
    # fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec: the fetch rate leaves out the group join.
    return {"per_second": float(rows[-1][9]), "mb_per_second": float(rows[-1][8])}


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    bootstrap = broker.bootstrap
    tools = ensure_tools()
    results: dict[str, Any] = {}
    records = profile.records * 4  # the JVM tools need more records than the Python stages to reach speed
    for size in RECORD_SIZES:
        topic = f"bench.broker.{size}.{uuid.uuid4().hex[:6]}"
        asyncio.run(create_topic(bootstrap, topic, 6))
        produced: dict[str, Series] = {}
        consumed: dict[str, Series] = {}
        for _ in range(profile.repetitions):
            for metric, value in produce(tools, bootstrap, topic, records, size).items():
                produced.setdefault(metric, Series()).add(value)
            for metric, value in consume(tools, bootstrap, topic, records).items():
                consumed.setdefault(metric, Series()).add(value)
        results[f"{size}B"] = {"produce": {m: s.summary() for m, s in produced.items()},
                               "consume": {m: s.summary() for m, s in consumed.items()}}
    return results
