"""``make soak``: steady traffic both ways for a bounded time while the broker and workers are killed.

Starts a broker and stack of its own on free ports, then for ``--minutes`` (20 by default, at most 30): a few
consumers write every second and the agent answers each conversation, while every ``--chaos-every`` seconds one
fault strikes in turn: broker SIGKILL and restart, worker SIGKILL and restart, a second worker joining and then
leaving, worker SIGTERM and restart. At the end it checks that every message a bridge acknowledged reached the
other side (A ⊆ K ⊆ E), counts duplicates per conversation, checks each consumer's order, and shows the worker's
memory and the consumer lag. Exit status 0 only when nothing acknowledged was lost, no conversation saw more
repeated sends than there were hard kills (broker or worker SIGKILL), and every consumer's texts kept their order.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from aiokafka import TopicPartition

from devstack import prometheus
from devstack.broker import KafkaBroker
from devstack.dashboard import render
from devstack.ports import free_port
from devstack.stack import Stack, StackConfig
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka

MAX_MINUTES = 30.0


class Load:
    """Consumers writing once a second each, and an agent answering every consumer text, in threads."""

    def __init__(self, stack: Stack, consumers: int) -> None:
        self.config = stack.config
        self.consumers = [f"+1777{uuid.uuid4().int % 10**7:07d}" for _ in range(consumers)]
        self.acknowledged: dict[str, list[str]] = {c: [] for c in self.consumers}
        self.agent_acknowledged: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def consumers_write(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            n = 0
            while not self.stop.is_set():
                for consumer in self.consumers:
                    text = f"{consumer} says {n}"
                    try:
                        answer = client.post(f"{self.config.channel_url}/sandbox/consumers/{consumer}/messages",
                                             json={"text": text}).json()
                    except httpx.HTTPError:
                        answer = {}
                    if answer.get("bridge_status") == 202:
                        self.acknowledged[consumer].append(text)
                    else:
                        self.refused += 1
                n += 1
                self.stop.wait(1.0)

    def agent_answers(self) -> None:
        answered: set[str] = set()
        with httpx.Client(timeout=30.0) as client:
            while not self.stop.is_set():
                for conversation in client.get(f"{self.config.liveengage_url}/sandbox/conversations").json()[
                        "conversations"]:
                    if conversation["state"] != "OPEN" or conversation["conversation_id"] in answered:
                        continue
                    text = f"agent reply {uuid.uuid4().hex[:8]}"
                    url = (f"{self.config.liveengage_url}/sandbox/conversations/"
                           f"{conversation['conversation_id']}/agent/messages")
                    if client.post(url, json={"text": text}).status_code == 201:
                        self.agent_acknowledged.append(text)
                        answered.add(conversation["conversation_id"])
                self.stop.wait(2.0)


def texts_at_liveengage(config: StackConfig, consumer: str) -> list[str]:
    found = httpx.get(f"{config.liveengage_url}/sandbox/conversations",
                      params={"ext_consumer_id": f"{config.channel_id}:{consumer}"}, timeout=30).json()
    return [e["event"]["message"] for c in found["conversations"] for d in c["dialogs"] for e in d["events"]
            if e["event"].get("contentType") == "text/plain"]


def texts_at_channel(config: StackConfig) -> list[str]:
    return [m.get("text", "") for m in httpx.get(f"{config.channel_url}/sandbox/outbox", timeout=30).json()[
        "messages"] if m.get("type", "text") == "text"]


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def consumer_lag(bootstrap: str, group: str) -> int:
    connection = KafkaConnection(kafka_bootstrap=bootstrap)
    admin, consumer = kafka.admin_client(connection), kafka.consumer(connection)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(tp.topic, tp.partition) for tp in committed]
        ends = await consumer.end_offsets(tps)
        return sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0)
    finally:
        await consumer.stop()
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.soak")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--chaos-every", type=float, default=120.0, help="seconds between faults")
    parser.add_argument("--consumers", type=int, default=5)
    parser.add_argument("--dashboard", type=Path, help="where to draw the run's dashboard (PNG; needs Prometheus)")
    args = parser.parse_args(argv)
    minutes = min(args.minutes, MAX_MINUTES)
    run_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    broker = KafkaBroker(log_path=run_dir / "broker.log", keep_data=True)
    broker.start()
    stack = Stack(broker.bootstrap, StackConfig.on_free_ports(retry_delays_s=[1, 2, 4, 8, 16],
                                                              worker_env={"LEC_SESSION_TIMEOUT_S": "10"}), run_dir)
    load = Load(stack, args.consumers)
    faults: list[str] = []
    monitor = prometheus.PrometheusServer(free_port(), run_dir / "prometheus")
    try:
        stack.start()
        started = time.time()
        if prometheus.binary() is not None:
            stack.worker_port("worker-2")  # the second worker's metrics are scraped whenever it runs
            monitor.start(stack.scrape_targets(), interval_s=5.0)
            print(f"Prometheus: {monitor.url}", flush=True)
        rss_start = rss_mb(stack.processes["worker"].pid)
        threads = [threading.Thread(target=load.consumers_write, daemon=True),
                   threading.Thread(target=load.agent_answers, daemon=True)]
        for thread in threads:
            thread.start()
        def kill_broker() -> None:
            broker.kill()
            broker.restart()

        def kill_worker() -> None:
            worker = stack.processes["worker"]
            worker.signal(signal.SIGKILL)
            worker.wait_exit(30)
            stack.start_worker()

        chaos: list[tuple[str, Callable[[], object]]] = [
            ("broker SIGKILL", kill_broker), ("worker SIGKILL", kill_worker),
            ("second worker joins", lambda: stack.start_worker("worker-2")),
            ("second worker leaves", lambda: stack.processes["worker-2"].stop()),
            ("worker SIGTERM", lambda: stack.restart_worker()),
        ]
        end = time.monotonic() + minutes * 60
        next_fault = time.monotonic() + args.chaos_every
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            if time.monotonic() >= next_fault and time.monotonic() < end - 60:
                name, strike = chaos[len(faults) % len(chaos)]
                print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
                strike()
                faults.append(name)
                next_fault = time.monotonic() + args.chaos_every
        load.stop.set()
        for thread in threads:
            thread.join(60)
        status = report(stack, load, faults, rss_start)
        if monitor.process is not None:
            picture = args.dashboard or run_dir / "dashboard.png"
            render(monitor, picture, started, time.time(), max(minutes * 60 / 300, 5.0), "1m",
                   title=f"LiveEngage connector: {minutes:g}-minute soak ({', '.join(faults) or 'no faults'})")
            print(f"dashboard of the run: {picture}")
        return status
    finally:
        monitor.stop()
        stack.stop()
        broker.keep_data = False
        broker.stop()


def report(stack: Stack, load: Load, faults: list[str], rss_start: float) -> int:
    config = stack.config
    deadline = time.monotonic() + 180
    lost: dict[str, list[str]] = {}
    lost_agent: list[str] = []
    while time.monotonic() < deadline:
        lost = {c: sorted(set(texts) - set(texts_at_liveengage(config, c))) for c, texts in load.acknowledged.items()}
        lost_agent = sorted(set(load.agent_acknowledged) - set(texts_at_channel(config)))
        if not any(lost.values()) and not lost_agent:
            break
        time.sleep(2)
    # Per conversation: a consumer's texts at LiveEngage, and each agent reply (one per conversation) at the channel.
    at_liveengage = {c: texts_at_liveengage(config, c) for c in load.consumers}
    repeats = [sum(n - 1 for n in Counter(texts).values()) for texts in at_liveengage.values()]
    repeats += [n - 1 for n in Counter(texts_at_channel(config)).values()]
    duplicates, worst = sum(repeats), max(repeats, default=0)
    said = {c: [int(t.rsplit(" ", 1)[1]) for t in dict.fromkeys(texts) if t.startswith(f"{c} says ")]
            for c, texts in at_liveengage.items()}  # the consumer's own texts, first arrivals, in order
    out_of_order = [c for c, numbers in said.items() if numbers != sorted(numbers)]
    hard_kills = sum(1 for fault in faults if "SIGKILL" in fault)
    acknowledged = sum(len(t) for t in load.acknowledged.values()) + len(load.agent_acknowledged)
    lost_count = sum(len(v) for v in lost.values()) + len(lost_agent)
    lag = asyncio.run(consumer_lag(stack.bootstrap, "lec-worker"))
    rss_end = rss_mb(stack.processes["worker"].pid)
    print(f"faults injected: {len(faults)} ({', '.join(faults) or 'none'})")
    print(f"acknowledged: {acknowledged} (consumer texts and agent texts); refused while down: {load.refused}")
    print(f"lost: {lost_count}; duplicates delivered: {duplicates}, at most {worst} in one conversation "
          f"(allowed: one per hard kill, {hard_kills}); conversations out of order: {len(out_of_order)}")
    print(f"worker RSS: {rss_start:.0f} MB at start (first worker), {rss_end:.0f} MB at the end; "
          f"consumer lag at the end: {lag}")
    return 0 if lost_count == 0 and worst <= hard_kills and not out_of_order else 1


if __name__ == "__main__":
    sys.exit(main())
