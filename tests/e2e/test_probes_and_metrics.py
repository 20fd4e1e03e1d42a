"""Probes and metrics: the worker's endpoint (LEC_WEB_PORT) is alive, ready once its Kafka clients run and its tables
are recovered, and counts the records it carries out; the bridges count what Kafka acknowledged."""

from __future__ import annotations

import re

import httpx
import pytest

from devstack.stack import Stack
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0


def carried_out(metrics: str, topic: str) -> float:
    pattern = (rf'^lec_worker_records_total\{{(?=[^}}]*outcome="carried_out")(?=[^}}]*topic="{re.escape(topic)}")'
               r'[^}]*\} (\S+)$')
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_worker_is_alive_ready_and_counts_records(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    base = f"http://127.0.0.1:{stack.worker_web_ports['worker']}"
    assert httpx.get(f"{base}/livez").json() == {"status": "alive"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    before = carried_out(httpx.get(f"{base}/metrics").text, "lec.channel.inbound")
    sandboxes.consumer_says(consumer, "counted")
    wait_until(lambda: carried_out(httpx.get(f"{base}/metrics").text, "lec.channel.inbound") > before,
               timeout=DEADLINE_S, what="the text counted as carried out")
    wait_until(lambda: "counted" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the text at LiveEngage")
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE lec_worker_records_total counter" in metrics.text
    assert re.search(r'^lec_worker_http_calls_total\{status="200",what="Send API conversation/send"\} [1-9]',
                     metrics.text, re.MULTILINE), "Send API calls are counted by status"
    assert re.search(r'^lec_worker_end_to_end_seconds_count\{direction="consumer_to_liveengage"\} [1-9]',
                     metrics.text, re.MULTILINE), "consumer texts are timed to LiveEngage's acceptance"
    assert re.search(r'^lec_worker_table_keys\{table="conversations"\} [1-9]', metrics.text, re.MULTILINE)
    # a worker handling records is past its table recovery
    assert re.search(r"^lec_worker_recovering 0\.0$", metrics.text, re.MULTILINE)
    assert re.search(r"^lec_worker_recovery_remaining 0\.0$", metrics.text, re.MULTILINE)

    def inbound_lags() -> list[float]:
        text = httpx.get(f"{base}/metrics").text
        return [float(lag) for lag in re.findall(
            r'^lec_worker_consumer_lag\{partition="\d+",topic="lec.channel.inbound"\} (\S+)$', text, re.MULTILINE)]

    # Every assigned partition is reported once the worker has looked at it (its idle check runs every 3 s).
    lags = wait_until(lambda: len(inbound_lags()) == stack.config.partitions and inbound_lags(), timeout=DEADLINE_S,
                      what="a lag per partition")
    assert all(lag >= 0 for lag in lags)


def produced(metrics: str, topic: str) -> float:
    found = re.search(rf'^lec_bridge_records_produced_total\{{topic="{re.escape(topic)}"\}} (\S+)$', metrics,
                      re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_channel_bridge_counts_what_kafka_acknowledged(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    url = f"{stack.config.channel_bridge_url}/metrics"
    before = produced(httpx.get(url).text, "lec.channel.inbound")
    sandboxes.consumer_says(consumer, "counted at the bridge")
    after = httpx.get(url).text  # the sandbox returns once the bridge answered, i.e. after Kafka's ack
    assert produced(after, "lec.channel.inbound") == before + 1
    assert re.search(r'^lec_bridge_kafka_ack_seconds_count\{topic="lec.channel.inbound"\} [1-9]', after, re.MULTILINE)
