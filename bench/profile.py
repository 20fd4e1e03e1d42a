"""How long each stage runs: the full benchmark, or the quick smoke run ``make test`` uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: float  # measured time of one HTTP load run
    warmup: float
    repetitions: int  # interleaved runs per candidate
    concurrency: int  # connections of the closed-loop load
    records: int  # records per worker-pipeline run
    sends: int  # Send API calls per sender run
    e2e_events: int  # texts sent as fast as the bridge takes them, to measure what the connector sustains
    e2e_seconds: float  # the open-loop run at half that rate
    replay_pause_s: float  # how long the worker is stopped under load in the replay stage
    state_sizes: tuple[int, ...]  # conversations in the worker's tables, in the state stage
    failover_seconds: float  # open-loop load around each worker fault in the failover stage


FULL = Profile("full", seconds=20, warmup=5, repetitions=3, concurrency=32, records=10_000, sends=5_000,
               e2e_events=5_000, e2e_seconds=30, replay_pause_s=60,
               state_sizes=(10_000, 100_000, 1_000_000), failover_seconds=45)
QUICK = Profile("quick", seconds=2, warmup=1, repetitions=1, concurrency=16, records=1_000, sends=300,
                e2e_events=150, e2e_seconds=3, replay_pause_s=3,
                state_sizes=(2_000, 20_000), failover_seconds=12)
