"""The worker's Prometheus metrics (served on ``/metrics`` by ``streams.health``)."""

from __future__ import annotations

from prometheus_client import Counter

RECORDS = Counter("lec_worker_records_total", "Source records the worker finished, by topic and outcome",
                  ["topic", "outcome"])
