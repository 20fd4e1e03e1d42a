"""``make bench``: start the real broker, measure every stage beside its baseline in one run, write a report.

``python -m bench [--quick] [--stages broker,ingress,worker,sender,e2e,state,failover] [--out DIR]``
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import CORES
from bench.profile import FULL, QUICK, Profile
from bench.stages import broker, e2e, failover, ingress, sender, state, worker
from devstack.broker import KafkaBroker

STAGES: dict[str, Callable[[KafkaBroker, Path, Profile], dict[str, Any]]] = {
    "broker": broker.run, "ingress": ingress.run, "worker": worker.run, "sender": sender.run, "e2e": e2e.run,
    "state": state.run, "failover": failover.run,
}
DEFAULT_OUT = Path(__file__).parent / "results"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs: checks every stage works, not its speed")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated, in this order: "
                                                                    + ",".join(STAGES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    chosen = [name for name in args.stages.split(",") if name]
    unknown = [name for name in chosen if name not in STAGES]
    if unknown:
        parser.error(f"unknown stages: {', '.join(unknown)}")
    results: dict[str, Any] = {"profile": profile.name, "date": date.today().isoformat(), "cores": CORES,
                               "python": platform.python_version(), "errors": {}}
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    for name in chosen:
        # A broker of its own per stage: what one stage leaves in the connector's topics (the ingress stage's
        # webhook events, say) would otherwise be work for the next stage's worker.
        print(f"stage {name} ...", flush=True)
        stage_dir = run_dir / name
        stage_dir.mkdir()
        stage_started = time.monotonic()
        kafka = KafkaBroker(log_path=stage_dir / "broker.log")
        try:
            kafka.start()
            results[name] = STAGES[name](kafka, stage_dir, profile)
        except Exception as exc:  # noqa: BLE001 - one broken stage must not hide the others' numbers
            traceback.print_exc()
            results["errors"][name] = f"{exc.__class__.__name__}: {exc}"
        finally:
            kafka.stop()
        print(f"stage {name}: {time.monotonic() - stage_started:.0f} s", flush=True)
    results["seconds"] = time.monotonic() - started
    if results["errors"]:
        print(f"logs of the failed run kept in {run_dir}", file=sys.stderr)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    stem = f"{results['date']}-quick" if args.quick else results["date"]
    data, picture = report.write(results, args.out, stem)
    print(report.table(results))
    print(f"\nwritten: {data} and {picture} ({results['seconds']:.0f} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
