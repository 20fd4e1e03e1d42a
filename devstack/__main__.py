"""``make run``: the real broker, both bridges, the worker and both sandboxes on 127.0.0.1 until Ctrl-C; and a
Prometheus scraping them with the chart's alert rules, when Prometheus is installed. With ``LEC_WIRE_FORMAT=registry``
and no ``LEC_SCHEMA_REGISTRY_URL``, a local Schema Registry (Apicurio) too, which every process writes through."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from devstack import prometheus
from devstack.broker import KafkaBroker
from devstack.schema_registry import SchemaRegistry
from devstack.stack import Stack, StackConfig

RUN_DIR = Path(os.environ.get("LEC_RUN_DIR", ".run"))
PROMETHEUS_PORT = int(os.environ.get("LEC_PROMETHEUS_PORT", "9090"))
REGISTRY_PORT = 8096


def wants_local_registry() -> bool:
    return os.environ.get("LEC_WIRE_FORMAT") == "registry" and not os.environ.get("LEC_SCHEMA_REGISTRY_URL")


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background, where SIGINT is ignored
        signal.signal(signum, signal.default_int_handler)
    broker = KafkaBroker(port=int(os.environ.get("LEC_KAFKA_PORT", "9092")), log_path=RUN_DIR / "broker.log")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for old_log in RUN_DIR.glob("*.log"):
        old_log.unlink()
    stack: Stack | None = None
    monitor = prometheus.PrometheusServer(PROMETHEUS_PORT, RUN_DIR / "prometheus")
    registry = SchemaRegistry(RUN_DIR / "schema-registry", port=REGISTRY_PORT) if wants_local_registry() else None
    try:
        print("starting Kafka (the first run resolves it from Maven Central) ...", flush=True)
        broker.start()
        config = StackConfig()
        if registry is not None:
            print("starting the Schema Registry (the first run builds it with Maven, about a minute) ...", flush=True)
            config.registry_settings = {"LEC_SCHEMA_REGISTRY_URL": registry.start()}
        stack = Stack(broker.bootstrap, config, RUN_DIR)
        print("starting the sandboxes, both bridges and the worker ...", flush=True)
        stack.start()
        where = stack.describe()
        if registry is not None:
            where.append(("Schema Registry", f"{registry.url}  (Confluent's API; every topic in its wire format)"))
        if prometheus.binary() is not None:
            monitor.start(stack.scrape_targets())
            where.append(("Prometheus", f"{monitor.url}  (scraping every process; alerts: {monitor.url}/alerts)"))
        else:
            where.append(("Prometheus", "not installed (make run unpacks Debian's package when apt-get can)"))
        width = max(len(name) for name, _ in where)
        print("\nLiveEngage connector running:")
        for name, address in where:
            print(f"  {name:<{width}}  {address}")
        print(f"\nlogs in {RUN_DIR}/; try `make demo` in another terminal; Ctrl-C stops everything.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        monitor.stop()
        if stack is not None:
            stack.stop()
        if registry is not None:
            registry.stop()
        broker.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
