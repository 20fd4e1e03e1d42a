"""The bridges' inbound contract under abuse, on the running stack: rows 4, 8 and 9 of the fault matrix."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import pytest

from devstack.stack import Stack
from emulators.liveengage.webhooks import Signing
from schemas.topics import CHANNEL_INBOUND
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_topic

pytestmark = pytest.mark.e2e


def agent_notification(conversation_id: str, sequence: int, text: str) -> bytes:
    change = {"sequence": sequence, "originatorId": "agent-x",
              "originatorMetadata": {"id": "agent-x", "role": "ASSIGNED_AGENT"}, "serverTimestamp": 1717430401234,
              "conversationId": conversation_id, "dialogId": conversation_id, "messageAudience": "ALL",
              "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}
    body = {"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": [change]}}
    return json.dumps(body, separators=(",", ":")).encode()


def test_4_out_of_order_sequences_are_both_delivered_once(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    config = stack.config
    headers = {"content-type": "application/json", "x-liveperson-account-id": config.account_id,
               "x-liveperson-client-id": config.client_id}
    for sequence, text in ((41, "second"), (40, "first"), (41, "second")):  # reordered, then a redelivery
        body = agent_notification(conversation_id, sequence, text)
        answer = httpx.post(config.webhook_url, content=body,
                            headers=headers | {"x-liveperson-signature": Signing().header(config.client_secret, body)})
        assert answer.status_code == 200
    wait_until(lambda: len(sandboxes.outbox(consumer)) >= 2, timeout=DEADLINE_S, what="both agent texts")
    delivered = sorted((m["message_id"], m["text"]) for m in sandboxes.outbox(consumer))
    assert delivered == [(f"{conversation_id}:40", "first"), (f"{conversation_id}:41", "second")]


def test_8_a_slow_client_is_cut_off_while_good_requests_go_through(stack: Stack, sandboxes: Sandboxes,
                                                                   consumer: str) -> None:
    host, port = "127.0.0.1", stack.config.channel_bridge_port
    slow = socket.create_connection((host, port), timeout=30)
    try:
        slow.sendall(f"POST /v1/channels/{stack.config.channel_id}/messages HTTP/1.1\r\nHost: {host}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"message_id\":".encode())
        started = time.monotonic()
        texts = [f"while a client trickles {n}" for n in range(3)]
        for text in texts:
            sandboxes.consumer_says(consumer, text)  # 202 each (asserted by the helper)
        wait_until(lambda: set(texts) <= set(sandboxes.published_texts(consumer)), timeout=DEADLINE_S,
                   what="the good requests")
        answer = b""  # the bridge answers the stalled request by itself; head and body may come separately
        while b'"request_timeout"' not in answer and (chunk := slow.recv(4096)):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b'"request_timeout"' in answer
        assert time.monotonic() - started < DEADLINE_S
    finally:
        slow.close()


def test_9_a_flood_from_one_number_is_throttled_and_every_accepted_message_is_kept(
        stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    accepted, throttled = [], 0
    url = f"{stack.config.channel_url}/sandbox/consumers/{consumer}/messages"
    with httpx.Client(timeout=10) as client:
        for n in range(40):  # bounded: 40 requests as fast as one client can send them
            answer = client.post(url, json={"text": f"flood {n}", "message_id": f"flood-{uuid.uuid4()}"}).json()
            if answer["bridge_status"] == 202:
                accepted.append(answer["message_id"])
            else:
                assert answer["bridge_status"] == 429 and answer["bridge_body"]["error"] == "rate_limited"
                throttled += 1
    assert throttled > 0 and len(accepted) >= 20  # the default burst of 20 per number got through
    other = f"{consumer}0"
    assert sandboxes.consumer_says(other, "unaffected")["bridge_status"] == 202
    in_topic = {record["event_id"] for _, record in read_topic(stack, CHANNEL_INBOUND)}
    assert set(accepted) <= in_topic
