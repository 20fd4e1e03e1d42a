"""Stage 3, the worker: the connector's Faust pipeline against (a) a raw aiokafka loop doing the same work and
(b) the same pipeline on quix-streams, each consuming the same pre-filled topic from the start, interleaved.

Two more Faust pipelines place the connector between its bounds: the same work in Faust's own idiom, without the
connector's guarantee (what the guarantee costs), and an agent that does nothing (Faust's floor on this machine:
no pipeline on Faust's streams reads faster)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.harness import SUBJECT_CORES, Series, pinned
from bench.pipelines.work import sample_record
from bench.profile import Profile
from bench.stages.broker import create_topic
from devstack.broker import KafkaBroker
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka

PIPELINES = {"faust": "bench.pipelines.faust_worker", "raw_aiokafka": "bench.pipelines.raw",
             "quix_streams": "bench.pipelines.quix", "faust_plain": "bench.pipelines.faust_plain",
             "faust_noop": "bench.pipelines.faust_noop"}
CONSUMERS = 1000


async def prefill(bootstrap: str, topic: str, records: int) -> None:
    producer = kafka.producer(KafkaConnection(kafka_bootstrap=bootstrap), acks="all", linger_ms=5,
                              max_batch_size=65536)
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key)
                   for key, value in (sample_record(number, CONSUMERS) for number in range(records))]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def run_pipeline(module: str, bootstrap: str, source: str, target: str, records: int, log: Path) -> dict[str, float]:
    group = f"bench-{module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
    with open(log, "ab") as errors:
        done = subprocess.run(pinned([sys.executable, "-m", module, bootstrap, source, target, str(records), group],
                                     SUBJECT_CORES), stdout=subprocess.PIPE, stderr=errors, timeout=120 + records / 50,
                              cwd=log.parent)  # Faust keeps a data directory in the current one
    # The result is the last JSON object printed (Faust's spinner may write terminal codes before it).
    lines = [line[line.index("{"):] for line in done.stdout.decode().splitlines() if "{" in line]
    if not lines:
        raise RuntimeError(f"{module} printed no result (exit {done.returncode}); see {log}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    bootstrap = broker.bootstrap
    suffix = uuid.uuid4().hex[:6]
    source, target = f"bench.worker.in.{suffix}", f"bench.worker.out.{suffix}"
    asyncio.run(create_topic(bootstrap, source, 6))
    asyncio.run(create_topic(bootstrap, target, 6))
    asyncio.run(prefill(bootstrap, source, profile.records))
    results: dict[str, dict[str, Series]] = {name: {} for name in PIPELINES}
    for _ in range(profile.repetitions):
        for name, module in PIPELINES.items():
            measured = run_pipeline(module, bootstrap, source, target, profile.records, run_dir / f"{name}.log")
            for metric in ("per_second", "cpu_us_per_record"):
                results[name].setdefault(metric, Series()).add(measured[metric])
    summary = {name: {metric: series.summary() for metric, series in metrics.items()}
               for name, metrics in results.items()}
    rate = {name: metrics["per_second"]["median"] for name, metrics in summary.items()}
    return {"pipelines": summary, "records": profile.records,
            "ratio": {"worker/raw_aiokafka": rate["faust"] / rate["raw_aiokafka"],
                      "worker/quix_streams": rate["faust"] / rate["quix_streams"],
                      "worker/faust_plain": rate["faust"] / rate["faust_plain"],
                      "faust_plain/raw_aiokafka": rate["faust_plain"] / rate["raw_aiokafka"],
                      "faust_noop/raw_aiokafka": rate["faust_noop"] / rate["raw_aiokafka"]}}
