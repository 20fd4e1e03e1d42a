"""Stage 8, failover: two workers on the RocksDB store (each keeping a standby copy of the other's tables) under
steady open-loop load, on the e2e stage's stack; one of them is SIGKILLed, then, with both back, one is stopped
as a rolling upgrade stops it (SIGTERM). For each: end-to-end latency p50/p99 over the run, the longest any text
waited (the gap a conversation saw), how many texts waited over a second, how long the stopped worker took to
exit, the order and repeats of each consumer's texts, and per second of sending (from the fault) the median
and longest wait.

The group's session timeout and heartbeat are the worker's defaults unless LEC_SESSION_TIMEOUT_S is set in the
environment (the stack passes it on), which is how the defaults were chosen.
"""

from __future__ import annotations

import json
from collections import Counter
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from bench.profile import Profile
from bench.stages.e2e import in_order, load_for, open_loop, percentile, start_stack, wait_arrived
from devstack.broker import KafkaBroker
from devstack.stack import Stack

RATE = 100.0  # texts/s: a quarter of what the stack sustains, so that the backlog a fault leaves drains fast


def one_fault(stack: Stack, how: str, seconds: float, concurrency: int) -> dict[str, Any]:
    run_id = f"fail{uuid.uuid4().hex[:6]}"
    generator = open_loop(load_for(stack, run_id), RATE, seconds, concurrency)
    time.sleep(seconds / 3)  # steady traffic through both workers before the fault
    fault_ms = time.time() * 1000
    victim = stack.processes["worker"]
    if how == "sigkill":
        victim.signal(signal.SIGKILL)
        assert victim.process is not None
        victim.process.wait(30)
    else:
        victim.stop(timeout=60)  # SIGTERM: the worker leaves the group once its lanes are drained
    stopped_ms = time.time() * 1000
    out, _ = generator.communicate(timeout=seconds + 60)
    sent = json.loads(out)
    texts = wait_arrived(stack, run_id, sent["ok"], timeout=120)
    latencies = [float(arrival - sent_ms) for *_, sent_ms, arrival in texts]
    out_of_order, repeats = in_order(texts)
    copies = Counter((consumer, number) for consumer, number, *_ in texts)
    repeats_by_consumer: Counter[str] = Counter()
    for (consumer, _), count in copies.items():
        repeats_by_consumer[consumer] += count - 1
    by_second: dict[int, list[float]] = {}
    for *_, sent_ms, arrival in texts:
        by_second.setdefault(int((sent_ms - fault_ms) // 1000), []).append(float(arrival - sent_ms))
    timeline = [[second, percentile(values, 0.5), max(values)] for second, values in sorted(by_second.items())]
    return {"timeline": timeline, "accepted": sent["ok"], "arrived": len(texts), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "max_gap_s": max(latencies, default=float("nan")) / 1000,
            "stop_s": (stopped_ms - fault_ms) / 1000,
            "texts_over_1s": sum(1 for latency in latencies if latency > 1000),
            "consumers_out_of_order": out_of_order, "repeats": repeats,
            "most_repeats_per_consumer": max(repeats_by_consumer.values(), default=0)}


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    stack = start_stack(broker.bootstrap, run_dir, worker_env={"LEC_STORE": "rocksdb"})
    try:
        stack.start_worker("worker-2")
        results = {}
        for how in ("sigkill", "sigterm"):
            results[how] = one_fault(stack, how, profile.failover_seconds, profile.concurrency * 4)
            stack.start_worker()  # two workers again for the next fault
            print(f"  failover {how}: {results[how]}", flush=True)
    finally:
        stack.stop()
    return results
