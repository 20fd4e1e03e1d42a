"""Stage 2, bridge ingress: signed webhook POST → verify → Avro → produce → 200 after Kafka's ack, against a bare ASGI
app on the same server stack answering the same POST. Capacity in a closed loop (interleaved, repeated), then
latency in an open loop at half of each one's capacity."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.harness import SUBJECT_CORES, CpuMeter, Series, pinned
from bench.profile import Profile
from devstack.broker import KafkaBroker
from devstack.ports import free_port
from devstack.stack import ManagedProcess
from kafkaclients import KafkaConnection
from streams.provision import prepare_topics
from streams.topic_plan import plan

ACCOUNT = "12345678"


def start_bridge(bootstrap: str, run_dir: Path, client_id: str, client_secret: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    env = {**os.environ, "LEC_KAFKA_BOOTSTRAP": bootstrap, "LEC_LOG_LEVEL": "warning",
           "LEC_LIVEENGAGE_ACCOUNTS": json.dumps({ACCOUNT: {"client_id": client_id, "client_secret": client_secret}}),
           # The bridge's own limits would answer 429 long before its capacity; the benchmark measures capacity.
           "LEC_ACCOUNT_RATE": "1000000", "LEC_ACCOUNT_BURST": "1000000"}
    process = ManagedProcess("webhook-bridge", pinned([sys.executable, "-m", "gateways", "liveengage", "--port",
                                                       str(port)], SUBJECT_CORES), env, run_dir / "bridge.log")
    process.start()
    process.wait_http(f"http://127.0.0.1:{port}/readyz")
    return process, f"http://127.0.0.1:{port}/v1/liveengage/webhooks"


def start_bare(run_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = ManagedProcess("bare-asgi", pinned([sys.executable, "-m", "bench.bare", "--port", str(port)],
                                                 SUBJECT_CORES), dict(os.environ), run_dir / "bare.log")
    process.start()
    process.wait_http(f"http://127.0.0.1:{port}/")
    return process, f"http://127.0.0.1:{port}/v1/liveengage/webhooks"


def measure(process: ManagedProcess, load: loadgen.Load, profile: Profile, rate: float = 0.0) -> dict[str, float]:
    assert process.pid is not None
    meter = CpuMeter([process.pid]).start()
    result = loadgen.run(load, seconds=profile.seconds, warmup=profile.warmup, concurrency=profile.concurrency,
                         rate=rate)
    cpu = meter.stop()[process.pid]
    requests = max(result["requests"], 1)
    if result["requests"] == 0 or result["ok"] < result["requests"]:
        raise RuntimeError(f"{process.name}: {result['requests'] - result['ok']} requests failed: {result}")
    # CPU over warm-up and measured time, per request answered in the measured time (the same ratio for both).
    return {"per_second": result["per_second"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
            "cpu_us_per_request": cpu / (profile.seconds + profile.warmup) * profile.seconds / requests * 1e6,
            "generator_cpu_share": result["generator_cpu_share"]}


def run(broker: KafkaBroker, run_dir: Path, profile: Profile) -> dict[str, Any]:
    bootstrap = broker.bootstrap
    # The worker's job in a stack; no worker runs in this stage.
    asyncio.run(prepare_topics(KafkaConnection(kafka_bootstrap=bootstrap), plan("lec-worker", 6, 1, 1), create=True))
    client_id, client_secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    bridge, bridge_url = start_bridge(bootstrap, run_dir, client_id, client_secret)
    bare, bare_url = start_bare(run_dir)
    loads = {
        "bridge": (bridge, loadgen.Load(bridge_url, "webhook", client_secret, ACCOUNT, client_id)),
        "bare": (bare, loadgen.Load(bare_url, "webhook", client_secret, ACCOUNT, client_id)),
    }
    try:
        capacity: dict[str, dict[str, Series]] = {name: {} for name in loads}
        for _ in range(profile.repetitions):  # A B A B ...
            for name, (process, load) in loads.items():
                for metric, value in measure(process, load, profile).items():
                    capacity[name].setdefault(metric, Series()).add(value)
        half_load: dict[str, dict[str, float]] = {}
        for name, (process, load) in loads.items():
            rate = capacity[name]["per_second"].summary()["median"] / 2
            half_load[name] = measure(process, load, profile, rate=rate) | {"offered_rate": rate}
    finally:
        bridge.stop()
        bare.stop()
    summary = {name: {metric: series.summary() for metric, series in metrics.items()}
               for name, metrics in capacity.items()}
    ratio = summary["bridge"]["per_second"]["median"] / summary["bare"]["per_second"]["median"]
    return {"capacity": summary, "half_load": half_load, "ratio": {"bridge/bare": ratio}}
