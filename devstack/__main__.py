"""``make run``: the real broker, both bridges, the worker and both sandboxes on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig

RUN_DIR = Path(os.environ.get("LEC_RUN_DIR", ".run"))


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background, where SIGINT is ignored
        signal.signal(signum, signal.default_int_handler)
    broker = KafkaBroker(port=int(os.environ.get("LEC_KAFKA_PORT", "9092")), log_path=RUN_DIR / "broker.log")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for old_log in RUN_DIR.glob("*.log"):
        old_log.unlink()
    stack: Stack | None = None
    try:
        print("starting Kafka (the first run resolves it from Maven Central) ...", flush=True)
        broker.start()
        stack = Stack(broker.bootstrap, StackConfig(), RUN_DIR)
        print("starting the sandboxes, both bridges and the worker ...", flush=True)
        stack.start()
        width = max(len(name) for name, _ in stack.describe())
        print("\nLiveEngage connector running:")
        for name, where in stack.describe():
            print(f"  {name:<{width}}  {where}")
        print(f"\nlogs in {RUN_DIR}/; try `make demo` in another terminal; Ctrl-C stops everything.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        if stack is not None:
            stack.stop()
        broker.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
