"""The worker's Prometheus metrics (served on ``/metrics`` by ``streams.health``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECORDS = Counter("lec_worker_records_total", "Source records the worker finished, by topic and outcome",
                  ["topic", "outcome"])
DEAD_LETTERS = Counter("lec_worker_dead_letters_total", "Records dead-lettered, by source topic and error class",
                       ["topic", "error_class"])
HTTP_CALLS = Counter("lec_worker_http_calls_total", "Outbound HTTP calls (Send API, IdP, Sentinel, channel "
                     "gateways), by what was called and its HTTP status or transport error",
                     ["what", "status"])
RETRIES = Counter("lec_worker_retries_total", "Retries scheduled or waited for, by what is retried", ["what"])
# Bridge receipt to the far side's acceptance: LiveEngage's (consumer messages), the channel gateway's (agent's).
LATENCY = Histogram("lec_worker_end_to_end_seconds", "Receipt at a bridge to acceptance by the other side",
                    ["direction"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
