"""`make bench QUICK=1` as a smoke test: every stage runs against the real broker and processes and reports numbers.

It checks that the benchmark works, not how fast anything is (speed goals live in the benchmark's own report).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import CONTEXT, TARGETS, lookup

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(1200)
def test_quick_benchmark_measures_every_stage(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=1140)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (result_file,) = tmp_path.glob("*-quick.json")
    results = json.loads(result_file.read_text())
    assert results["errors"] == {}
    for label, path, _, _ in TARGETS:
        value = lookup(results, path)
        assert value is not None and math.isfinite(value) and value > 0, f"{label}: {value!r}"
    for label, path in CONTEXT:
        value = lookup(results, path)
        assert value is not None and math.isfinite(value), f"{label}: {value!r}"
        # A growth may be negative (memory given back); every other figure is a size, a rate or a time.
        assert value > 0 or path[-1].endswith("growth_mib"), f"{label}: {value!r}"
    for size in ("300B", "1000B"):
        assert results["broker"][size]["produce"]["per_second"]["median"] > 0
        assert results["broker"][size]["consume"]["per_second"]["median"] > 0
    replay = results["e2e"]["replay"]
    # Requests still in flight when the generator stops are not counted as accepted, but they arrive.
    assert replay["arrived"] >= replay["accepted"] and replay["duplicates"] == 0
    assert replay["consumers_out_of_order"] == 0
    for how, repeats in (("sigkill", 1), ("sigterm", 0)):  # a SIGKILL can repeat what was in flight
        fault = results["failover"][how]
        assert fault["arrived"] >= fault["accepted"] and fault["consumers_out_of_order"] == 0, fault
        assert fault["most_repeats_per_consumer"] <= repeats, fault
    assert set(results["state"]["by_size"]) == {"2000", "20000"}
    expiry = results["state"]["expiry"]  # every closed conversation of the largest size forgotten
    assert expiry["forgotten"] == 18_000 and expiry["restarted"]["ready_s"] > 0, expiry
    assert (tmp_path / result_file.name.replace(".json", ".png")).stat().st_size > 10_000
