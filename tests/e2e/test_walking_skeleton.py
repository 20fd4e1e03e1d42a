"""A consumer message and an agent reply travel end to end through the real broker, worker and sandboxes."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from devstack.stack import Stack
from emulators.liveengage.webhooks import Signing
from schemas.topics import LIVEENGAGE_EVENTS
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes, read_topic

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0


def test_first_text_opens_a_conversation_with_sdes_then_publishes(sandboxes: Sandboxes, consumer: str) -> None:
    profile = {"first_name": "Maria", "last_name": "Keller", "email": "maria@example.de", "customer_id": "C-482"}
    answer = sandboxes.consumer_says(consumer, "Where is my parcel?", profile=profile)
    assert answer["bridge_status"] == 202

    wait_until(lambda: sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the PublishEvent")
    opening, publish = sandboxes.send_api_requests(consumer)
    assert opening["endpoint"] == "conversation"
    set_profile, request_conversation = opening["payload"]
    assert set_profile["type"] == "userprofile.SetUserProfile"
    customer_info, personal = set_profile["body"]["authenticatedData"]["lp_sdes"]
    assert customer_info == {"type": "ctmrinfo",
                             "info": {"customerId": "C-482", "socialId": sandboxes.ext_consumer_id(consumer)}}
    assert personal["personal"] == {"firstname": "Maria", "lastname": "Keller", "language": "en-US",
                                    "contacts": [{"email": "maria@example.de"}]}
    assert request_conversation["type"] == "cm.ConsumerRequestConversation"
    assert request_conversation["body"]["brandId"] == sandboxes.config.account_id

    (conversation,) = sandboxes.conversations(consumer)
    assert publish["payload"]["type"] == "ms.PublishEvent"
    assert publish["payload"]["body"]["dialogId"] == conversation["conversation_id"]
    assert publish["payload"]["body"]["event"] == {"type": "ContentEvent", "contentType": "text/plain",
                                                   "message": "Where is my parcel?"}
    assert conversation["state"] == "OPEN"
    assert [e["sequence"] for e in conversation["dialogs"][0]["events"]] == [0]


def test_five_texts_from_one_consumer_arrive_in_order(sandboxes: Sandboxes, consumer: str) -> None:
    texts = [f"message {n} of 5" for n in range(1, 6)]
    for text in texts:
        assert sandboxes.consumer_says(consumer, text)["bridge_status"] == 202

    wait_until(lambda: len(sandboxes.published_texts(consumer)) >= 5, timeout=DEADLINE_S, what="five texts")
    assert sandboxes.published_texts(consumer) == texts
    (conversation,) = sandboxes.conversations(consumer)
    events = conversation["dialogs"][0]["events"]
    assert [e["event"]["message"] for e in events] == texts
    assert [e["sequence"] for e in events] == [0, 1, 2, 3, 4]


def test_agent_text_webhook_reaches_the_channel(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "Hello?")
    sandboxes.agent_says(conversation_id, "Hi! How can I help?")

    (delivered,) = wait_until(lambda: sandboxes.outbox(consumer), timeout=DEADLINE_S, what="the agent's text")
    assert delivered["text"] == "Hi! How can I help?"
    assert delivered["conversation_id"] == conversation_id
    assert delivered["message_id"] == f"{conversation_id}:1"  # consumer text was sequence 0
    assert delivered["duplicate"] is False
    # The sandbox signed every webhook of this conversation and the bridge accepted each on the first attempt.
    mine = [d for d in sandboxes.webhook_deliveries() if conversation_id in json.dumps(d["body"])]
    assert mine and all(d["status"] == 200 and d["attempt"] == 1 for d in mine)
    # The consumer's own text came back as a notification (echo) and was not sent to the channel.
    assert [m["text"] for m in sandboxes.outbox(consumer)] == ["Hi! How can I help?"]


def notification(conversation_id: str, text: str) -> bytes:
    change = {"sequence": 1, "originatorId": "agent", "originatorMetadata": {"id": "agent", "role": "ASSIGNED_AGENT"},
              "serverTimestamp": 1717430401234, "conversationId": conversation_id, "dialogId": conversation_id,
              "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}
    body = {"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": [change]}}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("tamper", ["wrong secret", "flipped body byte"])
def test_wrongly_signed_webhook_is_401_and_never_reaches_the_topic(stack: Stack, tamper: str) -> None:
    config = stack.config
    refused_id, accepted_id = f"refused-{uuid.uuid4()}", f"accepted-{uuid.uuid4()}"
    headers = {"content-type": "application/json", "x-liveperson-account-id": config.account_id,
               "x-liveperson-client-id": config.client_id}
    body = notification(refused_id, "should never be published")
    if tamper == "wrong secret":
        signature = Signing().header("not-the-client-secret", body)
    else:
        signature = Signing().header(config.client_secret, body)
        body = body.replace(b"never", b"NEVER")
    refused = httpx.post(config.webhook_url, content=body, headers={**headers, "x-liveperson-signature": signature})
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "x-liveperson-signature" in refused.json()["detail"]

    # A correctly signed control notification sent afterwards is in the topic, so the topic was read far enough.
    good = notification(accepted_id, "control")
    accepted = httpx.post(config.webhook_url, content=good,
                          headers={**headers, "x-liveperson-signature": Signing().header(config.client_secret, good)})
    assert accepted.status_code == 200

    def keys_once_control_is_in() -> set[str] | None:
        keys = {key for key, _ in read_topic(stack, LIVEENGAGE_EVENTS)}
        return keys if accepted_id in keys else None

    keys = wait_until(keys_once_control_is_in, timeout=DEADLINE_S, what="the control record in the topic")
    assert refused_id not in keys
