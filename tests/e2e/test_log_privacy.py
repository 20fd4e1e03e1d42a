"""Row 27: with every connector process at DEBUG, no secret, token, phone number or message text is logged.

A stack of its own (its own broker too, since a second worker would share the session stack's topics) runs a
consumer text with a profile, an agent reply, a file, a refused webhook, an AppJWT renewal and a dead letter;
then every line the bridges and the worker logged is searched.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig
from emulators.liveengage.webhooks import Signing
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes

pytestmark = pytest.mark.e2e
CONNECTOR_LOGS = ("worker", "channel-bridge", "webhook-bridge")
PHONE = "+15557654321"
TEXTS = ("my secret order is 4471-XYZ", "Your refund is on its way, Maria")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def debug_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    broker = KafkaBroker(log_path=tmp_path_factory.mktemp("privacy-kafka") / "broker.log")
    broker.start()
    stack = Stack(broker.bootstrap, StackConfig.on_free_ports(log_level="debug", retry_delays_s=[0.2]),
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
                 PHONE, PHONE[1:], *TEXTS, "this one is dead-lettered", "after the renewal"]
    for name, text in logs.items():
        for value in forbidden:
            assert value not in text, f"{name} log contains a forbidden value"
        assert not re.search(r"eyJ[\w-]{4,}\.[\w-]{4,}\.", text), f"{name} log contains a JWT"
    sandboxes.http.close()
