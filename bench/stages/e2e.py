"""Stages 5 and 6 on the whole stack (both bridges, the worker, the channel sandbox, as ``make run`` starts them),
with LiveEngage played by the lean stand-in (``bench/standin``, Go) and without the sandbox console, so that the
connector, not the Python sandbox, is what runs out of CPU:

- end to end: channel message POSTed at the channel bridge → Kafka → worker → the stand-in's Send API, and its
  signed echo of each text back through the webhook bridge and the worker (as LiveEngage sends it). Sustained
  events/s from a closed loop, then latency at half that rate in an open loop: each text carries its send time,
  the stand-in stamps its arrival (serverTimestamp, same host clock). CPU per event of every process: the
  connector's (both bridges and the worker), LiveEngage's stand-in, the channel sandbox, the broker and the load
  generator.
- replay: the same open-loop load while the worker is stopped for a while and started again: time to zero lag,
  drain rate against ingest rate, and the order of each consumer's texts at LiveEngage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen, pyspy, standin
from bench.harness import GENERATOR_CORE, CpuMeter, pinned
from bench.profile import Profile
from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig

CONNECTOR = ("channel-bridge", "webhook-bridge", "worker")
OTHERS = ("liveengage-sandbox", "channel-sandbox")  # LiveEngage (the stand-in) keeps the sandbox's process name
# The bridges' per-channel and per-number limits protect a brand in production; here they would cap the load.
UNLIMITED = {"LEC_CHANNEL_RATE": "1000000", "LEC_CHANNEL_BURST": "1000000", "LEC_CONSUMER_RATE": "1000000",
             "LEC_CONSUMER_BURST": "1000000", "LEC_ACCOUNT_RATE": "1000000", "LEC_ACCOUNT_BURST": "1000000"}


def start_stack(bootstrap: str, run_dir: Path, worker_env: dict[str, str] | None = None) -> Stack:
    os.environ.update(UNLIMITED)  # the stack passes the environment on to every process
    config = StackConfig.on_free_ports(partitions=6, twilio_channels=[], liveengage_program=standin.command(),
                                       console=False, worker_env=worker_env or {})
    stack = Stack(bootstrap, config, run_dir)
    stack.start()
    return stack


def consumer_texts(stack: Stack, run_id: str) -> list[tuple[str, int, int, int]]:
    """(consumer, number, sent ms, arrived ms) of every text of this run the LiveEngage sandbox holds."""
    answer = httpx.get(f"{stack.config.liveengage_url}/sandbox/conversations", timeout=60)
    answer.raise_for_status()
    found = []
    for conversation in answer.json()["conversations"]:
        for dialog in conversation["dialogs"]:
            for change in dialog["events"]:
                text = change.get("event", {}).get("message")
                if change["originatorMetadata"]["role"] == "CONSUMER" and isinstance(text, str) \
                        and text.startswith(run_id + " "):
                    _, number, sent_ms, *_ = text.split(" ")
                    found.append((conversation["ext_consumer_id"], int(number), int(sent_ms),
                                  int(change["serverTimestamp"])))
    return found


def wait_arrived(stack: Stack, run_id: str, expected: int, timeout: float) -> list[tuple[str, int, int, int]]:
    deadline = time.monotonic() + timeout
    while True:
        texts = consumer_texts(stack, run_id)
        if len(texts) >= expected or time.monotonic() > deadline:
            return texts
        time.sleep(1.0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


def pids(stack: Stack, names: tuple[str, ...]) -> dict[str, int]:
    return {name: pid for name in names if (pid := stack.processes[name].pid) is not None}


def load_for(stack: Stack, run_id: str) -> loadgen.Load:
    c = stack.config
    return loadgen.Load(f"{c.channel_bridge_url}/v1/channels/{c.channel_id}/messages", "channel",
                        c.channel_secret, consumers=200, run_id=run_id)


def end_to_end(stack: Stack, broker: KafkaBroker, profile: Profile) -> dict[str, Any]:
    """A batch sent as fast as the bridge takes it; sustained = the batch / (last arrival - first send)."""
    run_id = f"e2e{uuid.uuid4().hex[:6]}"
    processes = pids(stack, CONNECTOR + OTHERS) | ({"broker": broker.pid} if broker.pid else {})
    meter = CpuMeter(processes.values()).start()
    sampler = pyspy.Sampler(processes["worker"], stack.run_dir / "worker.pyspy")
    started = time.time()
    sent = loadgen.run(load_for(stack, run_id), seconds=0, warmup=0, concurrency=profile.concurrency,
                       requests=profile.e2e_events)
    texts = wait_arrived(stack, run_id, sent["ok"], timeout=120 + profile.e2e_events / 5)
    meter.stop()
    worker_profile = sampler.stop()
    events = max(len(texts), 1)
    per_process = {name: meter.seconds[pid] / events * 1e6 for name, pid in processes.items()}
    per_process["load-generator"] = sent["generator_cpu_s"] / events * 1e6
    last_arrival = max((arrived for *_, arrived in texts), default=started * 1000) / 1000
    sustained = len(texts) / max(last_arrival - started, 1e-3)
    half = max(sustained / 2, 1.0)
    run_id_half = f"e2e{uuid.uuid4().hex[:6]}"
    paced = loadgen.run(load_for(stack, run_id_half), seconds=profile.e2e_seconds, warmup=0.0,
                        concurrency=profile.concurrency * 4, rate=half)
    arrived = wait_arrived(stack, run_id_half, paced["ok"], timeout=120 + profile.e2e_seconds * 2)
    latencies = [float(arrival - sent_ms) for *_, sent_ms, arrival in arrived]
    return {
        "accepted": sent["ok"], "arrived": len(texts), "sustained_per_second": sustained,
        "bridge_per_second": sent["per_second"],
        "connector_cpu_us_per_event": sum(per_process[name] for name in CONNECTOR if name in per_process),
        "sandbox_cpu_us_per_event": sum(per_process[name] for name in OTHERS if name in per_process),
        "cpu_us_per_event": per_process,
        "half_load": {"offered_rate": half, "accepted": paced["ok"], "arrived": len(arrived),
                      "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
                      "max_ms": max(latencies, default=float("nan"))},
        "generator_cpu_share": sent["generator_cpu_share"],
        "worker_profile": worker_profile,
    }


def open_loop(load: loadgen.Load, rate: float, seconds: float, concurrency: int) -> subprocess.Popen[bytes]:
    """The load generator sending ``rate`` texts/s for ``seconds`` in the background; its JSON summary on stdout."""
    return subprocess.Popen(pinned(
        [str(loadgen.ensure_built()), "-url", load.url, "-kind", "channel", "-consumers", str(load.consumers),
         "-concurrency", str(concurrency), "-rate", str(rate), "-duration", f"{seconds}s",
         "-warmup", "0s", "-run-id", load.run_id], str(GENERATOR_CORE)), stdout=subprocess.PIPE, stderr=sys.stderr,
        env={**os.environ, "LOADGEN_SECRET": load.secret})


def in_order(texts: list[tuple[str, int, int, int]]) -> tuple[int, int]:
    """(consumers whose texts arrived out of order, texts that arrived more than once)."""
    by_consumer: dict[str, list[int]] = defaultdict(list)
    for consumer, number, _, arrival in sorted(texts, key=lambda t: t[3]):
        by_consumer[consumer].append(number)
    out_of_order = sum(1 for numbers in by_consumer.values() if numbers != sorted(numbers))
    return out_of_order, len(texts) - len({(consumer, number) for consumer, number, *_ in texts})


def replay(stack: Stack, profile: Profile, rate: float) -> dict[str, Any]:
    """Open-loop load at ``rate``; the worker stopped (SIGTERM) for the pause, then started again."""
    run_id = f"replay{uuid.uuid4().hex[:6]}"
    seconds = profile.replay_pause_s * 2 + 5
    generator = open_loop(load_for(stack, run_id), rate, seconds, profile.concurrency * 4)
    generator_started = time.monotonic()
    time.sleep(2.0)  # the worker keeps up before the pause
    stack.processes["worker"].stop()
    paused_at = time.monotonic()
    time.sleep(profile.replay_pause_s)
    stack.start_worker()  # back once ready: its start and table recovery count as part of the catch-up
    resumed_at = paused_at + profile.replay_pause_s
    backlog_at_resume = rate * (resumed_at - paused_at)
    caught_up_s = None
    while time.monotonic() - resumed_at < profile.replay_pause_s * 4 + 60:
        arrived = len(consumer_texts(stack, run_id))
        sent_so_far = rate * min(time.monotonic() - generator_started, seconds)
        if arrived >= sent_so_far - rate * 0.5:  # no more behind than half a second of load: caught up
            caught_up_s = time.monotonic() - resumed_at
            break
        time.sleep(0.5)
    out, _ = generator.communicate(timeout=seconds + 60)
    sent = json.loads(out)
    texts = wait_arrived(stack, run_id, sent["ok"], timeout=120)
    out_of_order, duplicates = in_order(texts)
    drain_rate = (backlog_at_resume + rate * (caught_up_s or 0)) / caught_up_s if caught_up_s else 0.0
    return {"ingest_rate": rate, "pause_s": profile.replay_pause_s, "backlog": backlog_at_resume,
            "time_to_zero_lag_s": caught_up_s, "drain_rate": drain_rate,
            "drain/ingest": drain_rate / rate if rate else 0.0, "accepted": sent["ok"], "arrived": len(texts),
            "consumers_out_of_order": out_of_order, "duplicates": duplicates}


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    stack = start_stack(broker.bootstrap, run_dir)
    try:
        e2e = end_to_end(stack, broker, profile)
        replayed = replay(stack, profile, rate=max(e2e["sustained_per_second"] / 3, 1.0))
    finally:
        stack.stop()
    return {"end_to_end": e2e, "replay": replayed,
            "ratio": {"drain/ingest": replayed["drain/ingest"]}}
