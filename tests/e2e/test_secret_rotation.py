"""A secret rotation without downtime, at the bridges: while the session stack's first brand rotates its channel
secret and its LiveEngage client secret, requests signed with the secret being replaced are carried through like
those signed with the current one, anything else is refused, and each bridge counts the requests signed with the
old secret (an operator removes it once that count stops rising; README, "Secret rotation")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import Stack
from emulators.liveengage.webhooks import Signing
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, ROTATED_OUT_CHANNEL_SECRET, ROTATED_OUT_CLIENT_SECRET, Sandboxes

pytestmark = pytest.mark.e2e


def previous_secret_count(bridge_url: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{bridge_url}/metrics", timeout=10).text):
        if family.name == "lec_bridge_previous_secret":
            return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    return 0.0


def channel_text(stack: Stack, secret: str, consumer: str, text: str) -> httpx.Response:
    body = json.dumps({"message_id": str(uuid.uuid4()), "consumer_id": consumer, "text": text,
                       "timestamp": int(time.time() * 1000)}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{stack.config.channel_bridge_url}/v1/channels/{stack.config.channel_id}/messages",
                      content=body, headers={"content-type": "application/json", "x-channel-signature": signature},
                      timeout=30)


def agent_text(stack: Stack, secret: str, conversation_id: str, text: str) -> httpx.Response:
    change = {"sequence": 900, "originatorId": "agent-1", "serverTimestamp": int(time.time() * 1000),
              "originatorMetadata": {"id": "agent-1", "role": "ASSIGNED_AGENT"},
              "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
              "conversationId": conversation_id, "dialogId": conversation_id}
    body = json.dumps({"kind": "notification", "type": "ms.MessagingEventNotification",
                       "body": {"changes": [change]}}).encode()
    headers = {"content-type": "application/json", "x-liveperson-account-id": stack.config.account_id,
               "x-liveperson-client-id": stack.config.client_id,
               "x-liveperson-signature": Signing().header(secret, body)}
    return httpx.post(stack.config.webhook_url, content=body, headers=headers, timeout=30)


def test_a_gateway_still_signing_with_the_old_channel_secret(stack: Stack, sandboxes: Sandboxes,
                                                             consumer: str) -> None:
    before = previous_secret_count(stack.config.channel_bridge_url)
    assert channel_text(stack, ROTATED_OUT_CHANNEL_SECRET, consumer, "signed with the old secret").status_code == 202
    wait_until(lambda: "signed with the old secret" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the text signed with the old secret at LiveEngage")
    assert channel_text(stack, stack.config.channel_secret, consumer, "and the new").status_code == 202
    assert channel_text(stack, "not-a-secret-of-this-channel", consumer, "refused").status_code == 401
    wait_until(lambda: "and the new" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the new")
    assert "refused" not in sandboxes.published_texts(consumer)
    assert previous_secret_count(stack.config.channel_bridge_url) == before + 1


def test_liveengage_still_signing_with_the_old_client_secret(stack: Stack, sandboxes: Sandboxes,
                                                             consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    before = previous_secret_count(stack.config.webhook_bridge_url)
    assert agent_text(stack, ROTATED_OUT_CLIENT_SECRET, conversation_id, "old-secret reply").status_code == 200
    assert agent_text(stack, "not-the-app-secret", conversation_id, "refused reply").status_code == 401
    wait_until(lambda: any(m.get("text") == "old-secret reply" for m in sandboxes.outbox(consumer)),
               timeout=DEADLINE_S, what="the agent's text signed with the old client secret at the channel")
    assert previous_secret_count(stack.config.webhook_bridge_url) == before + 1
    assert not any(m.get("text") == "refused reply" for m in sandboxes.outbox(consumer))
