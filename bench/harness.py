"""What every stage needs: CPU time of processes, pinning, interleaved repetitions and their summary."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
# The load generator gets the last core, what it drives the others (on 2 cores: core 0 against core 1).
GENERATOR_CORE = CORES - 1
SUBJECT_CORES = ",".join(str(core) for core in range(max(CORES - 1, 1)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process and its threads (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds a set of processes spent between ``start()`` and ``stop()``."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self._start: dict[int, float] = {}
        self.seconds: dict[int, float] = {}

    def start(self) -> CpuMeter:
        self._start = {pid: cpu_seconds(pid) for pid in self.pids}
        return self

    def stop(self) -> dict[int, float]:
        self.seconds = {pid: cpu_seconds(pid) - self._start[pid] for pid in self.pids}
        return self.seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def pinned(command: list[str], cores: str) -> list[str]:
    """``command`` run on the given cores only (taskset), so the generator and the subject do not share one."""
    return ["taskset", "-c", cores, *command]


def pin_process(pid: int, cores: str) -> None:
    os.sched_setaffinity(pid, {int(core) for core in cores.split(",")})


@dataclass
class Series:
    """Repeated measurements of one quantity."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    def summary(self) -> dict[str, float]:
        if not self.values:
            return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
        return {"median": statistics.median(self.values), "min": min(self.values), "max": max(self.values),
                "n": len(self.values)}


def interleaved(runs: dict[str, Callable[[], dict[str, float]]], repetitions: int) -> dict[str, dict[str, Any]]:
    """Run each candidate in turn (A B A B ...), ``repetitions`` times; summarise every reported number."""
    collected: dict[str, dict[str, Series]] = {name: {} for name in runs}
    for _ in range(repetitions):
        for name, run in runs.items():
            for metric, value in run().items():
                collected[name].setdefault(metric, Series()).add(value)
    return {name: {metric: series.summary() for metric, series in metrics.items()}
            for name, metrics in collected.items()}


def wait_for(probe: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(interval)
    raise TimeoutError(f"no {what} within {timeout:.0f}s")
