"""Rows 27 and 28: with every connector process at DEBUG, no secret, token, phone number or message text is
logged, in either log format, and the analytics topic holds none either. In the JSON format, every log record is
one object per line, and the worker's name the Kafka record they were logged for.

A stack of its own (its own broker too, since a second worker would share the session stack's topics) runs a
consumer text with a profile, an agent reply, a file, a refused webhook, an AppJWT renewal and a dead letter;
then every line the bridges and the worker logged is searched, and every analytics record read back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig
from emulators.liveengage.webhooks import Signing
from tests.conftest import PNG, wait_until
from schemas.topics import ANALYTICS_EVENTS, consumer_key
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_topic

pytestmark = pytest.mark.e2e
CONNECTOR_LOGS = ("worker", "channel-bridge", "webhook-bridge")
PHONE = "+15557654321"
TEXTS = ("my secret order is 4471-XYZ", "Your refund is on its way, Maria")


@pytest.fixture(scope="module", params=["text", "json"])
def debug_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    broker = KafkaBroker(log_path=tmp_path_factory.mktemp("privacy-kafka") / "broker.log")
    broker.start()
    stack = Stack(broker.bootstrap, StackConfig.on_free_ports(log_level="debug", retry_delays_s=[0.2],
                                                              log_format=request.param),
                  Path(tmp_path_factory.mktemp("privacy-stack")))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        broker.stop()


def test_no_secret_token_number_or_text_in_debug_logs(debug_stack: Stack) -> None:
    sandboxes = Sandboxes(debug_stack)
    config = debug_stack.config
    sandboxes.consumer_says(PHONE, TEXTS[0], profile={"first_name": "Maria", "phone": PHONE})
    wait_until(lambda: TEXTS[0] in sandboxes.published_texts(PHONE), timeout=DEADLINE_S, what="the text")
    conversation_id = sandboxes.conversations(PHONE)[0]["conversation_id"]
    sandboxes.agent_says(conversation_id, TEXTS[1])
    wait_until(lambda: sandboxes.outbox(PHONE), timeout=DEADLINE_S, what="the agent's text")
    sandboxes.consumer_does(PHONE, type="file", file={"data_base64": base64.b64encode(PNG).decode(),
                                                       "content_type": "image/png"})
    sandboxes.http.post(f"{config.liveengage_url}/sandbox/auth/revoke")
    sandboxes.consumer_says(PHONE, "after the renewal")
    wait_until(lambda: "after the renewal" in sandboxes.published_texts(PHONE), timeout=DEADLINE_S,
               what="the text after the AppJWT renewal")
    body = b'{"type":"ms.MessagingEventNotification","body":{"changes":[]}}'
    refused = httpx.post(config.webhook_url, content=body, headers={
        "content-type": "application/json", "x-liveperson-account-id": config.account_id,
        "x-liveperson-client-id": config.client_id, "x-liveperson-signature": Signing().header("wrong", body)})
    assert refused.status_code == 401
    sandboxes.http.post(f"{config.liveengage_url}/sandbox/faults", json={"endpoint": "send", "status": 400})
    sandboxes.consumer_says(PHONE, "this one is dead-lettered")
    wait_until(lambda: "dead-lettering" in (debug_stack.run_dir / "worker.log").read_text(), timeout=DEADLINE_S,
               what="the dead letter")

    logs = {name: (debug_stack.run_dir / f"{name}.log").read_text() for name in CONNECTOR_LOGS}
    assert all("DEBUG" in text for text in logs.values())  # DEBUG really was on
    tokens = sandboxes.http.get(f"{config.liveengage_url}/sandbox/auth").json()
    assert tokens["app_jwts"] == 2
    forbidden = [config.client_secret, config.channel_secret, config.outbound_token, config.admin_token,
                 config.analytics_key, PHONE, PHONE[1:], *TEXTS, "this one is dead-lettered", "after the renewal"]
    for name, text in logs.items():
        for value in forbidden:
            assert value not in text, f"{name} log contains a forbidden value"
        assert not re.search(r"eyJ[\w-]{4,}\.[\w-]{4,}\.", text), f"{name} log contains a JWT"
    if config.log_format == "json":
        assert_json_lines(logs)
    sandboxes.http.close()


def assert_json_lines(logs: dict[str, str]) -> None:
    """Every log record is a JSON object on its own line; the worker's carry the record they were logged for."""
    for name, text in logs.items():
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
        # Faust's start-up banner is printed, not logged; tracebacks belong to an entry's "exception".
        assert not [line for line in others if re.search(r"\b(DEBUG|INFO|WARNING|ERROR)\b", line)], name
        assert len(entries) >= 5 and all({"time", "level", "logger", "message"} <= set(e) for e in entries), name
    worker = [json.loads(line) for line in logs["worker"].splitlines() if line.startswith("{")]
    assert len(worker) > 20
    handled = [e for e in worker if {"topic", "partition", "offset"} <= set(e)]
    assert "lec.liveengage.commands" in {e["topic"] for e in handled}  # the sender logs what it does
    assert any(e.get("event_id") for e in handled) and any(e.get("conversation_id") for e in handled)
    dead = [e for e in worker if "dead-lettering" in e["message"]]
    assert dead and all({"topic", "partition", "offset"} <= set(e) for e in dead)


def test_analytics_events_carry_no_number_and_no_text(debug_stack: Stack) -> None:
    """Runs after the conversation above: its facts are in lec.analytics.events, its number and texts not."""
    config = debug_stack.config
    key = consumer_key(config.channel_id, PHONE)

    def conversation_events() -> list[dict[str, object]]:
        events = [event for _, event in read_topic(debug_stack, ANALYTICS_EVENTS)]
        kinds = {event["kind"] for event in events}
        return events if {"CONVERSATION_OPENED", "CONSUMER_MESSAGE", "AGENT_MESSAGE"} <= kinds else []

    events = wait_until(conversation_events, timeout=DEADLINE_S, what="the conversation's analytics events")
    texts = [*TEXTS, "this one is dead-lettered", "after the renewal"]
    for event in events:
        values = " ".join(str(value) for value in event.values())
        assert PHONE[1:] not in values and not re.search(r"\+\d{7,15}", values), "a number in analytics"
        assert not any(text in values for text in texts), "a message text in analytics"
    digest = hmac.new(config.analytics_key.encode(), key.encode(), hashlib.sha256).hexdigest()
    assert {e["consumer_digest"] for e in events} == {digest}  # one consumer, keyed by the deployment's secret
    assert digest not in (hashlib.sha256(PHONE.encode()).hexdigest(), hashlib.sha256(key.encode()).hexdigest())
    messages = [e for e in events if e["kind"] == "CONSUMER_MESSAGE"]
    assert TEXTS[0] not in str(messages) and len(TEXTS[0]) in [m["length"] for m in messages]
    assert all(m["latency_ms"] is not None and m["latency_ms"] >= 0 for m in messages)
