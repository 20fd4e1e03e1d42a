"""The HTTP load generator (bench/loadgen, Go): built once with the machine's Go, run pinned to its own core."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import gobuild
from bench.harness import GENERATOR_CORE, pinned

SOURCE = Path(__file__).parent / "loadgen"


def ensure_built() -> Path:
    return gobuild.ensure_built(SOURCE, "loadgen")


@dataclass
class Load:
    """What to send: ``kind`` channel (x-channel-signature), webhook (x-liveperson-signature) or plain."""

    url: str
    kind: str
    secret: str = ""
    account: str = ""
    client_id: str = ""
    consumers: int = 1000
    run_id: str = "bench"


def run(load: Load, *, seconds: float, warmup: float, concurrency: int = 32, rate: float = 0.0,
        requests: int = 0) -> dict[str, Any]:
    """One run: closed loop when ``rate`` is 0 (exactly ``requests`` of them when set), else open loop at
    ``rate``/s. The generator's CPU share of one core is added."""
    command = [str(ensure_built()), "-url", load.url, "-kind", load.kind, "-consumers", str(load.consumers),
               "-concurrency", str(concurrency), "-rate", str(rate), "-duration", f"{seconds}s",
               "-warmup", f"{warmup}s", "-run-id", load.run_id, "-account", load.account,
               "-client-id", load.client_id, "-requests", str(requests)]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    process = subprocess.Popen(pinned(command, str(GENERATOR_CORE)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "LOADGEN_SECRET": load.secret})  # the secret not in `ps`
    out, err = process.communicate(timeout=seconds + warmup + 120)
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the generator, reaped by communicate()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["generator_cpu_s"] = cpu
    result["generator_cpu_share"] = cpu / (time.monotonic() - started)  # of one core, over its whole run
    return result
