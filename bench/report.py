"""The benchmark's outputs: a table of each measured value beside its target, the JSON, and a PNG chart."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# (label, how to read the value from the results, target, True when higher is better)
TARGETS: list[tuple[str, tuple[str, ...], float, bool]] = [
    ("bridge / bare ASGI (req/s)", ("ingress", "ratio", "bridge/bare"), 0.6, True),
    ("worker / raw aiokafka (records/s)", ("worker", "ratio", "worker/raw_aiokafka"), 0.3, True),
    ("worker / quix-streams (records/s)", ("worker", "ratio", "worker/quix_streams"), 0.5, True),
    ("sender / aiohttp (req/s)", ("sender", "ratio", "sender/aiohttp"), 0.8, True),
    ("e2e sustained events/s", ("e2e", "end_to_end", "sustained_per_second"), 1000, True),
    ("e2e p99 ms at half load", ("e2e", "end_to_end", "half_load", "p99_ms"), 50, False),
    ("connector Python CPU µs/event", ("e2e", "end_to_end", "connector_cpu_us_per_event"), 800, False),
    ("replay drain / ingest", ("e2e", "ratio", "drain/ingest"), 5.0, True),
    # The state stage's largest size: 1M conversations in the full run.
    ("warm restart to ready s, largest state, RocksDB", ("state", "at_largest", "rocksdb", "warm", "ready_s"), 10,
     False),
    ("worker RSS MiB, largest state, RocksDB", ("state", "at_largest", "rocksdb", "warm", "rss_mib"), 1024, False),
    ("worker RSS MiB while it forgets 90% of the largest state, RocksDB",
     ("state", "expiry", "rss_during_max_mib"), 1024, False),
    # Flat: a worker restarted on what expiry left needs no more memory than before it.
    ("worker RSS restarted after expiry / before", ("state", "expiry", "restarted_over_before"), 1.05, False),
    ("longest e2e gap s, one of two workers SIGKILLed", ("failover", "sigkill", "max_gap_s"), 10, False),
    ("longest e2e gap s, one of two workers stopped (SIGTERM)", ("failover", "sigterm", "max_gap_s"), 2, False),
]
# Not targets: where the worker stands between Faust's floor and its idiom, to read the ratios above against.
CONTEXT: list[tuple[str, tuple[str, ...]]] = [
    ("Faust doing nothing / raw aiokafka (Faust's floor)", ("worker", "ratio", "faust_noop/raw_aiokafka")),
    ("Faust idiom, same work / raw aiokafka", ("worker", "ratio", "faust_plain/raw_aiokafka")),
    ("worker / Faust idiom (the guarantee's cost)", ("worker", "ratio", "worker/faust_plain")),
    *[(f"e2e CPU µs/event: {name}", ("e2e", "end_to_end", "cpu_us_per_event", name))
      for name in ("channel-bridge", "webhook-bridge", "worker", "liveengage-sandbox", "broker",
                   "load-generator")],
    *[(f"state: worker KiB per conversation, {store}", ("state", "per_conversation_kib", store))
      for store in ("memory", "rocksdb")],
    ("state expiry: consumers forgotten per second", ("state", "expiry", "per_s")),
    ("state expiry: worker RSS MiB once restarted on what is left", ("state", "expiry", "restarted", "rss_mib")),
    ("state expiry: worker RSS MiB once done, still running", ("state", "expiry", "rss_after_mib")),
    ("state expiry: worker RSS growth MiB in the 30 s after it", ("state", "expiry", "after_growth_mib")),
    *[(f"failover {how}: e2e p99 ms over the run", ("failover", how, "p99_ms")) for how in ("sigkill", "sigterm")],
]


def lookup(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) else None


def table(results: dict[str, Any]) -> str:
    rows = ["| measure | measured | target | met |", "|---|---|---|---|"]
    for label, path, target, higher in TARGETS:
        value = lookup(results, path)
        if value is None or math.isnan(value):
            rows.append(f"| {label} | not measured | {'≥' if higher else '≤'} {target:g} | - |")
            continue
        met = value >= target if higher else value <= target
        rows.append(f"| {label} | {value:,.2f} | {'≥' if higher else '≤'} {target:g} | {'yes' if met else 'no'} |")
    for label, path in CONTEXT:
        value = lookup(results, path)
        if value is not None and not math.isnan(value):
            rows.append(f"| {label} | {value:,.2f} | (context) | - |")
    return "\n".join(rows)


def chart(results: dict[str, Any], path: Path) -> None:
    """Throughput (left) and latency (right) of every stage that measured them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates: dict[str, float] = {}
    latencies: dict[str, tuple[float, float]] = {}
    for name, summary in results.get("ingress", {}).get("capacity", {}).items():
        rates[f"ingress {name}"] = summary["per_second"]["median"]
    for name, half in results.get("ingress", {}).get("half_load", {}).items():
        latencies[f"ingress {name}"] = (half["p50_ms"], half["p99_ms"])
    for name, summary in results.get("worker", {}).get("pipelines", {}).items():
        rates[f"worker {name}"] = summary["per_second"]["median"]
    for name, summary in results.get("sender", {}).get("clients", {}).items():
        rates[f"send {name}"] = summary["per_second"]["median"]
    e2e = results.get("e2e", {}).get("end_to_end")
    if e2e:
        rates["end to end"] = e2e["sustained_per_second"]
        latencies["end to end"] = (e2e["half_load"]["p50_ms"], e2e["half_load"]["p99_ms"])
    state = results.get("state", {}).get("by_size")
    figure, axes = plt.subplots(2 if state else 1, 2, figsize=(13, 10 if state else 5), squeeze=False)
    (left, right) = axes[0]
    if state:
        state_chart(state, *axes[1])
    left.barh(list(rates), list(rates.values()), color="#3b7dd8")
    left.set_xlabel("per second (median)")
    left.set_title("Throughput per stage")
    names = list(latencies)
    right.barh([f"{n} p50" for n in names], [latencies[n][0] for n in names], color="#7fb77e")
    right.barh([f"{n} p99" for n in names], [latencies[n][1] for n in names], color="#d8833b")
    right.set_xlabel("milliseconds at half load")
    right.set_title("Latency")
    figure.suptitle(f"make bench ({results.get('profile', '?')}), {results.get('date', '')}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def state_chart(by_size: dict[str, Any], starts: Any, memory: Any) -> None:
    """The state stage: time to ready (cold, warm) and resident memory against conversations, per store."""
    sizes = sorted(by_size, key=int)
    counts = [int(size) for size in sizes]
    for store, colour in (("memory", "#d8833b"), ("rocksdb", "#3b7dd8")):
        for start, style in (("cold", "--"), ("warm", "-")):
            starts.plot(counts, [by_size[size][store][start]["ready_s"] for size in sizes], style, color=colour,
                        marker="o", label=f"{store} {start}")
        memory.plot(counts, [by_size[size][store]["warm"]["rss_mib"] for size in sizes], "-", color=colour,
                    marker="o", label=f"{store}")
    for axis, label, title in ((starts, "seconds to ready", "Worker start against state"),
                               (memory, "worker RSS MiB once ready", "Worker memory against state")):
        axis.set_xscale("log")
        axis.set_xlabel("conversations in the tables")
        axis.set_ylabel(label)
        axis.set_title(title)
        axis.legend()


def write(results: dict[str, Any], directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data, picture = directory / f"{stem}.json", directory / f"{stem}.png"
    data.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    chart(results, picture)
    return data, picture
