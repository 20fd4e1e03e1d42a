"""Stage 7, the worker's state at a brand's scale: 10k, 100k and 1M conversations written straight into the
worker's changelogs (generated, not sent through LiveEngage), then one worker started on each store, cold (an
empty data directory) and warm (the directory its previous start left): time to ready, resident memory once
ready and at its peak, and the changelogs' size on the broker. Last, at the largest size, the RocksDB worker is
started with a retention that every closed conversation has passed: how long it takes to forget them all (their
states, then the routes and identities the sender asked to forget), and its resident memory before, during and
after, and once restarted on what is left.

Each conversation is three records, one per table that grows with consumers: its state (closed after a
ten-message conversation, one in ten still open; a 900-character ConsumerJWS, ten command ids in its ledger),
its route, and its LiveEngage identity. Sizes are cumulative: each loads only what the previous one lacks.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bench.profile import Profile
from devstack.broker import KafkaBroker
from devstack.stack import WORKER_READY, ManagedProcess, Stack, StackConfig
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import topics as catalogue
from schemas.codec import codec
from streams import topic_plan
from streams.provision import prepare_topics
from streams.retention import partition_of

STORES = ("memory", "rocksdb")
TABLES = (catalogue.CONVERSATIONS_TABLE, catalogue.ROUTES_TABLE, catalogue.IDENTITIES_TABLE)
JWS = "eyJ" + "x" * 897  # a ConsumerJWS is a signed JWT of about this length
READY_TIMEOUT_S = 1800.0
EXPIRY_SWEEP_INTERVAL_S = 30.0  # the first sweep starts this long after the worker is ready
EXPIRY_TIMEOUT_S = 3600.0
AFTER_EXPIRY_S = 30.0  # memory watched once the last consumer is forgotten, while sweeps find nothing more


def conversation_records(number: int, account: str, channel: str) -> list[tuple[str, str, bytes]]:
    """(table, key, value) of one generated consumer, as the worker writes them."""
    consumer_id = f"+1{number:010d}"
    lp_consumer_id, conversation_id = str(uuid.UUID(int=number)), str(uuid.UUID(int=(number + 1) << 64))
    is_open = number % 10 == 0
    moment = datetime.now(timezone.utc) - timedelta(seconds=random.randint(0, 86_400))
    state = {"account_id": account, "channel_id": channel, "consumer_id": consumer_id,
             "status": "OPEN" if is_open else "CLOSED", "conversation_id": conversation_id if is_open else None,
             "dialog_id": conversation_id if is_open else None, "lp_consumer_id": lp_consumer_id,
             "consumer_jws": JWS, "opened_at": moment, "updated_at": moment,
             "last_conversation_id": None if is_open else conversation_id, "skill_id": "1", "agent_id": None,
             "change_ts": int(moment.timestamp() * 1000), "pending": [], "retrying": False,
             "ledger": [uuid.uuid4().hex for _ in range(10)],
             "published": {str(n): uuid.uuid4().hex for n in range(5)} if is_open else {},
             "routes": {conversation_id: 0 if is_open else int(moment.timestamp() * 1000)}}
    route = {"conversation_id": conversation_id, "account_id": account, "channel_id": channel,
             "consumer_id": consumer_id, "opened_at": moment, "forgotten": False}
    identity = {"lp_consumer_id": lp_consumer_id, "account_id": account, "channel_id": channel,
                "consumer_id": consumer_id, "change": None, "seen_at": moment, "forget_before": None}
    return [(catalogue.CONVERSATIONS_TABLE, catalogue.consumer_key(channel, consumer_id),
             codec("ConversationState").encode(state)),
            (catalogue.ROUTES_TABLE, conversation_id, codec("ConversationRoute").encode(route)),
            (catalogue.IDENTITIES_TABLE, lp_consumer_id, codec("ConsumerIdentity").encode(identity))]


async def load(bootstrap: str, config: StackConfig, app_id: str, first: int, last: int) -> None:
    """Write consumers ``first``..``last - 1`` into the changelogs, keyed as Faust keys a table (JSON)."""
    producer = kafka.producer(KafkaConnection(kafka_bootstrap=bootstrap), acks=1, linger_ms=20,
                              max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for number in range(first, last):
            for table, key, value in conversation_records(number, config.account_id, config.channel_id):
                pending.append(await producer.send(topic_plan.changelog_topic(app_id, table), value,
                                                   key=f'"{key}"'.encode(),
                                                   partition=partition_of(key, config.partitions)))
            if len(pending) >= 30_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields


def start_once(stack: Stack, store: str, data_dir: Path, log: Path) -> dict[str, float]:
    """Start a worker on ``store`` and ``data_dir``, measure it once ready, stop it (SIGTERM)."""
    env = stack.worker_env("worker") | {"LEC_STORE": store, "LEC_DATA_DIR": str(data_dir)}
    worker = ManagedProcess("worker", [sys.executable, "-m", "streams"], env, log)
    offset = len(worker.log())
    started = time.monotonic()
    worker.start()
    try:
        worker.wait_log(WORKER_READY, timeout=READY_TIMEOUT_S, after=offset)
        ready_s = time.monotonic() - started
        assert worker.pid is not None
        memory = memory_kib(worker.pid)
    finally:
        worker.stop(timeout=120)
    return {"ready_s": ready_s, "rss_mib": memory["VmRSS"] / 1024, "peak_rss_mib": memory["VmHWM"] / 1024}


def scrape(port: int) -> dict[str, list[Sample]]:
    """The worker's /metrics: each family's samples by the family's name."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def forgotten(metrics: dict[str, list[Sample]]) -> float:
    """The worker's count of consumers forgotten because their retention had passed."""
    return sum(sample.value for sample in metrics.get("lec_worker_state_forgotten", [])
               if sample.name.endswith("_total") and sample.labels.get("reason") == "expired")


def lag(metrics: dict[str, list[Sample]]) -> float:
    """Records in Kafka the worker has not handled yet, over every partition it holds."""
    return sum(sample.value for sample in metrics.get("lec_worker_consumer_lag", []))


def expire_all(stack: Stack, data_dir: Path, log: Path, expected: int) -> dict[str, Any]:
    """Start a RocksDB worker on ``data_dir`` with a one-second retention, so that every closed conversation is
    past it; measure until it forgot ``expected`` consumers and a while after; then restart it on what is left."""
    env = stack.worker_env("worker") | {"LEC_STORE": "rocksdb", "LEC_DATA_DIR": str(data_dir),
                                        "LEC_STATE_RETENTION_S": "1",
                                        "LEC_STATE_SWEEP_INTERVAL_S": str(EXPIRY_SWEEP_INTERVAL_S)}
    worker = ManagedProcess("worker", [sys.executable, "-m", "streams"], env, log)
    offset = len(worker.log())
    worker.start()
    try:
        worker.wait_log(WORKER_READY, timeout=READY_TIMEOUT_S, after=offset)
        assert worker.pid is not None
        pid, port = worker.pid, int(env["LEC_WEB_PORT"])
        before_mib = memory_kib(pid)["VmRSS"] / 1024
        during: list[float] = []
        started = time.monotonic()
        # A consumer counts as forgotten once the sender deleted their state and sent the requests that forget
        # their routes and identity; the expiry is over once those are handled too (nothing left to read).
        states_s = None
        while True:
            metrics = scrape(port)
            if states_s is None and forgotten(metrics) >= expected:
                states_s = time.monotonic() - started - EXPIRY_SWEEP_INTERVAL_S
            if states_s is not None and lag(metrics) == 0:
                break
            if time.monotonic() - started > EXPIRY_TIMEOUT_S:
                raise TimeoutError(f"{forgotten(metrics):.0f} of {expected} consumers forgotten, {lag(metrics):.0f} "
                                   f"records left in {EXPIRY_TIMEOUT_S} s")
            during.append(memory_kib(pid)["VmRSS"] / 1024)
            if len(during) % 60 == 0:  # a run at a million takes half an hour here: show it moving
                print(f"  expiry: {forgotten(metrics):,.0f} of {expected:,} forgotten, {lag(metrics):,.0f} records "
                      f"left, RSS {during[-1]:.0f} MiB", flush=True)
            time.sleep(1)
        expire_s = time.monotonic() - started - EXPIRY_SWEEP_INTERVAL_S  # from the first sweep
        after: list[float] = []
        while time.monotonic() - started - expire_s - EXPIRY_SWEEP_INTERVAL_S < AFTER_EXPIRY_S:
            after.append(memory_kib(pid)["VmRSS"] / 1024)
            time.sleep(1)
        peak_mib = memory_kib(pid)["VmHWM"] / 1024
    finally:
        worker.stop(timeout=120)
    return {"forgotten": expected, "states_s": states_s, "expire_s": expire_s, "per_s": expected / expire_s,
            "rss_before_mib": before_mib, "rss_during_max_mib": max(during, default=before_mib),
            "rss_after_mib": after[-1], "rss_after_max_mib": max(after), "after_growth_mib": after[-1] - after[0],
            "peak_rss_mib": peak_mib,
            "restarted": start_once(stack, "rocksdb", data_dir, log)}


def broker_bytes(broker: KafkaBroker, topics: list[str]) -> int:
    """Bytes of the broker's log segments of ``topics``, as they sit on its disk."""
    assert broker.data_dir is not None
    return sum(path.stat().st_size for path in broker.data_dir.glob("*/*.log")  # segments, not the indexes
               if path.parent.name.rsplit("-", 1)[0] in topics)


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    config = StackConfig.on_free_ports()
    stack = Stack(broker.bootstrap, config, run_dir)  # only its worker's settings: no other process starts
    app_id = stack.worker_env("worker").get("LEC_APP_ID", "lec-worker")
    # The topics as the worker creates them: the changelogs must exist before they are loaded.
    asyncio.run(prepare_topics(KafkaConnection(kafka_bootstrap=broker.bootstrap),
                               topic_plan.plan(app_id, config.partitions, 1, 1), create=True))
    by_size: dict[str, Any] = {}
    loaded = 0
    for size in profile.state_sizes:
        started = time.monotonic()
        asyncio.run(load(broker.bootstrap, config, app_id, loaded, size))
        load_s, loaded = time.monotonic() - started, size
        measured: dict[str, Any] = {"load_s": load_s, "changelog_mib": broker_bytes(
            broker, [topic_plan.changelog_topic(app_id, table) for table in TABLES]) / 2**20}
        for store in STORES:
            data_dir = run_dir / f"{store}-{size}"
            measured[store] = {"cold": start_once(stack, store, data_dir, run_dir / f"{store}-{size}.log"),
                               "warm": start_once(stack, store, data_dir, run_dir / f"{store}-{size}.log")}
            if not (store == "rocksdb" and size == profile.state_sizes[-1]):
                shutil.rmtree(data_dir, ignore_errors=True)
        by_size[str(size)] = measured
        print(f"  state {size:,}: {measured}", flush=True)
    largest = profile.state_sizes[-1]
    closed = largest - len(range(0, largest, 10))  # one in ten is still open: conversation_records
    try:
        expiry = expire_all(stack, run_dir / f"rocksdb-{largest}", run_dir / "expiry.log", closed)
        expiry["restarted_over_before"] = expiry["restarted"]["rss_mib"] / expiry["rss_before_mib"]
        expiry["changelog_mib"] = broker_bytes(
            broker, [topic_plan.changelog_topic(app_id, table) for table in TABLES]) / 2**20
    except Exception as exc:  # noqa: BLE001 - the sizes measured above are kept in the results
        expiry = {"error": f"{exc.__class__.__name__}: {exc}"}
    print(f"  state expiry at {largest:,}: {expiry}", flush=True)
    # Memory per conversation: the slope between the two largest sizes (the worker's own footprint cancels).
    small, large = profile.state_sizes[-2], profile.state_sizes[-1]
    per_conversation = {store: (by_size[str(large)][store]["warm"]["rss_mib"]
                                - by_size[str(small)][store]["warm"]["rss_mib"]) * 1024 / (large - small)
                        for store in STORES}
    return {"by_size": by_size, "largest": large, "at_largest": by_size[str(large)],
            "per_conversation_kib": per_conversation, "expiry": expiry}
