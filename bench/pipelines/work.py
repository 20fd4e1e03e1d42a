"""The per-record work every worker pipeline does, and how each reports: decode the channel record (Avro), update
the consumer's state (count and last message id), encode an outbound record (Avro) keyed like the input.

Each pipeline runs as ``python -m bench.pipelines.<name> BOOTSTRAP IN OUT RECORDS GROUP``, consumes IN from the
start, and prints one JSON line once it has produced RECORDS outputs: wall time and CPU time from its first record
to its last, so start-up (joining the group, recovering tables) is not counted for anyone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from adapters.base import inbound_event
from schemas.codec import codec

INBOUND = codec("ChannelInbound")
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def sample_record(number: int, consumers: int) -> tuple[bytes, bytes]:
    """The input: (key, Avro value) of a typical channel text."""
    consumer = f"+1555{number % consumers:07d}"
    record = inbound_event(f"bench-{number}", consumer, "TEXT", 1_764_000_000_000,
                           text="Hello, I would like to change the delivery address of my order " + str(number)) | {
        "channel_id": "bench", "received_at": NOW}
    return f"bench:{consumer}".encode(), INBOUND.encode(record)


def transform(value: bytes, state: dict[str, Any] | None) -> tuple[dict[str, Any], bytes]:
    """The work: (new state, output value)."""
    record = INBOUND.decode(value)
    state = {"count": (state or {}).get("count", 0) + 1, "last": record["event_id"]}
    record["attributes"] = {"seen": str(state["count"])}
    return state, INBOUND.encode(record)


class Progress:
    """Counts outputs; prints the result line and ends the process at the target."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.done = 0
        self.wall = self.cpu = 0.0

    def one(self) -> None:
        if self.done == 0:
            self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.done += 1
        if self.done >= self.target:
            wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
            line = json.dumps({"records": self.done, "seconds": wall, "cpu_seconds": cpu,
                               "per_second": self.done / wall, "cpu_us_per_record": cpu / self.done * 1e6})
            os.write(1, (line + "\n").encode())  # to the real stdout: a Faust worker turns print() into logging
            os._exit(0)


def arguments() -> tuple[str, str, str, int, str]:
    bootstrap, source, target, records, group = sys.argv[1:6]
    return bootstrap, source, target, int(records), group
