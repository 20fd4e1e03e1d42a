"""The worker's Prometheus metrics (served on ``/metrics`` by ``streams.health``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.engine.faust_internals import table_keys

RECORDS = Counter("lec_worker_records_total", "Source records the worker finished, by topic and outcome",
                  ["topic", "outcome"])
DEAD_LETTERS = Counter("lec_worker_dead_letters_total", "Records dead-lettered, by source topic and error class",
                       ["topic", "error_class"])
HTTP_CALLS = Counter("lec_worker_http_calls_total", "Outbound HTTP calls (Send API, IdP, Sentinel, channel "
                     "gateways), by what was called and its HTTP status or transport error",
                     ["what", "status"])
FOREIGN_EVENTS = Counter("lec_worker_foreign_events_total", "LiveEngage events dropped because their conversation "
                         "never became the connector's (no route within the age limit, or over the count limit)",
                         ["reason"])
STATE_FORGOTTEN = Counter("lec_worker_state_forgotten_total", "Consumers whose state the worker forgot, by why: "
                          "expired (past LEC_STATE_RETENTION_S) or erased (on request)", ["reason"])
RETRIES = Counter("lec_worker_retries_total", "Retries scheduled or waited for, by what is retried", ["what"])
# Bridge receipt to the far side's acceptance: LiveEngage's (consumer messages), the channel gateway's (agent's).
LATENCY = Histogram("lec_worker_end_to_end_seconds", "Receipt at a bridge to acceptance by the other side",
                    ["direction"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


class WorkerState(Collector):
    """Read at each scrape: records waiting per assigned partition (high watermark minus the next offset to
    take), records and conversations in flight per source topic, keys per table, and the table recovery under
    way. Registered once; ``watch`` points it at the running app."""

    def __init__(self) -> None:
        self._backlog: Callable[[], dict[Any, int]] = dict
        self._in_flight: Callable[[], dict[str, tuple[int, int]]] = dict
        self._tables: dict[str, Any] = {}
        self._app: Any = None

    def watch(self, backlog: Callable[[], dict[Any, int]], tables: dict[str, Any],
              in_flight: Callable[[], dict[str, tuple[int, int]]] = dict, app: Any = None) -> None:
        self._backlog, self._tables, self._in_flight, self._app = backlog, tables, in_flight, app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("lec_worker_consumer_lag", "Records in Kafka not yet handled, per assigned "
                                "source partition", labels=["topic", "partition"])
        for tp, waiting in sorted(self._backlog().items()):
            lag.add_metric([tp.topic, str(tp.partition)], waiting)
        yield lag
        records = GaugeMetricFamily("lec_worker_records_in_flight", "Records being handled or waiting behind an "
                                    "earlier record of their key (LEC_IN_FLIGHT bounds them), per source topic",
                                    labels=["topic"])
        keys_busy = GaugeMetricFamily("lec_worker_keys_in_flight", "Keys (conversations, consumers) with records in "
                                      "flight, per source topic", labels=["topic"])
        for topic, (in_flight, busy) in sorted(self._in_flight().items()):
            records.add_metric([topic], in_flight)
            keys_busy.add_metric([topic], busy)
        yield records
        yield keys_busy
        keys = GaugeMetricFamily("lec_worker_table_keys", "Keys held in each worker table (RocksDB: its estimate)",
                                 labels=["table"])
        for name, table in sorted(self._tables.items()):
            keys.add_metric([name], table_keys(table))
        yield keys
        # Faust's recovery: the partitions just assigned are served once their tables are read
        recovering = self._app is not None and bool(self._app.in_recovery)
        yield GaugeMetricFamily("lec_worker_recovering", "1 while the worker reads the changelogs of the "
                                "partitions it was just given, before it handles their records", value=int(recovering))
        yield GaugeMetricFamily("lec_worker_recovery_remaining", "Changelog records left to read before the "
                                "partitions just given are served (0 once recovered)",
                                value=self._app.tables.recovery.active_remaining_total() if recovering else 0)


WORKER_STATE = WorkerState()
REGISTRY.register(WORKER_STATE)
