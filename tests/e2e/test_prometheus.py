"""A real Prometheus scrapes the running stack: every process is up, the alert rules load and evaluate, a dead letter
raises its alert, and every panel of the Grafana dashboard returns data, drawn into a PNG.

Set ``LEC_DASHBOARD_PNG=docs/dashboard.png`` to keep the picture (the README's is made this way).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devstack.dashboard import load_panels, render
from devstack.ports import free_port
from devstack.prometheus import ALERT_RULES, PrometheusServer
from devstack.stack import Stack
from schemas.topics import CHANNEL_INBOUND
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, produce_raw

pytestmark = pytest.mark.e2e
SCRAPE_S = 1.0
RATE_INTERVAL = "10s"  # what Grafana's $__rate_interval stands for at this scrape interval
ROUNDS = int(os.environ.get("LEC_DASHBOARD_ROUNDS", "30"))


@pytest.fixture(scope="module")
def monitor(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(free_port(), Path(tmp_path_factory.mktemp("prometheus")))
    server.start(stack.scrape_targets(), interval_s=SCRAPE_S)
    yield server
    server.stop()


def chart_alert_names() -> set[str]:
    """Every alert the chart ships, so a new rule is checked to load without editing this test."""
    (group,) = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    return {rule["alert"] for rule in group["rules"]}


def converse(stack: Stack, sandboxes: Sandboxes, rounds: int) -> None:
    """Consumers and agents talk both ways, round after round; one Send API call fails once (a retry) and one
    poison record reaches the inbound topic (a dead letter)."""
    consumers = [f"+1555{uuid.uuid4().int % 10**7:07d}" for _ in range(3)]
    conversations = {consumer: sandboxes.open_conversation(consumer, "hello") for consumer in consumers}
    sandboxes.http.post(f"{stack.config.liveengage_url}/sandbox/faults", json={
        "endpoint": "send", "status": 503, "count": 1, "ext_consumer_id": sandboxes.ext_consumer_id(consumers[0])})
    produce_raw(stack.bootstrap, CHANNEL_INBOUND.name, f"{stack.config.channel_id}:{consumers[0]}", b"not avro")
    for round_number in range(rounds):
        for consumer, conversation in conversations.items():
            sandboxes.consumer_says(consumer, f"question {round_number}")
            sandboxes.agent_says(conversation, f"answer {round_number}")
        wait_until(lambda: all(f"question {round_number}" in sandboxes.published_texts(c) for c in consumers)
                   and all(any(m.get("text") == f"answer {round_number}" for m in sandboxes.outbox(c))
                           for c in consumers), timeout=DEADLINE_S, what=f"round {round_number} both ways")


def test_prometheus_scrapes_the_stack_and_every_panel_has_data(stack: Stack, sandboxes: Sandboxes,
                                                              monitor: PrometheusServer, tmp_path: Path) -> None:
    monitor.wait_for_scrapes()
    assert {t["labels"]["job"] for t in monitor.targets()} == {"lec-channel-bridge", "lec-webhook-bridge",
                                                               "lec-worker"}
    start = time.time()
    converse(stack, sandboxes, ROUNDS)

    (group,) = monitor.rule_groups()
    assert {rule["name"] for rule in group["rules"]} == chart_alert_names(), group["rules"]
    assert all(rule["health"] == "ok" for rule in group["rules"]), group["rules"]
    wait_until(lambda: any(a["labels"]["alertname"] == "LecDeadLetters" and a["labels"]["topic"] ==
                           CHANNEL_INBOUND.name and a["state"] == "firing" for a in monitor.alerts()),
               timeout=DEADLINE_S, what="the dead-letter alert firing")

    def panels_without_data() -> list[str]:
        end = time.time()
        return [panel.title for panel in load_panels(RATE_INTERVAL) if not any(
            value not in ("NaN", "+Inf") for query in panel.queries
            for series in monitor.query_range(query.expr, start, end, SCRAPE_S) for _, value in series["values"])]

    wait_until(lambda: not panels_without_data(), timeout=DEADLINE_S,
               what=f"data in every panel (still without: {panels_without_data()})")

    picture = Path(os.environ.get("LEC_DASHBOARD_PNG") or tmp_path / "dashboard.png")
    series = render(monitor, picture, start - 30, time.time(), SCRAPE_S, RATE_INTERVAL)
    assert all(count > 0 for count in series.values()), series
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 30_000
