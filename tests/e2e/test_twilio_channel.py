"""A channel on the Twilio adapter, through the real bridge, broker and worker, with the sandbox playing Twilio.

Inbound SMS and MMS arrive as Twilio's signed form webhooks; agent texts leave through Twilio's Messages API
shape; Twilio's status callbacks become ACCEPT or NACK on the agent message's sequence in LiveEngage.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import httpx
import pytest

from adapters.sms import segments
from devstack.stack import Stack
from schemas.topics import CHANNEL_INBOUND
from tests.conftest import PNG, wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture
def sms(stack: Stack) -> Iterator[Sandboxes]:
    helper = Sandboxes(stack, stack.config.twilio_channels[0].channel_id)
    yield helper
    helper.http.close()


@pytest.fixture
def phone() -> str:
    return f"+1444{uuid.uuid4().int % 10**7:07d}"


def agent_texts(sms: Sandboxes, phone: str) -> list[str]:
    return [m["text"] for m in sms.outbox(phone) if m["type"] == "text"]


def accept_statuses(sms: Sandboxes, phone: str) -> list[tuple[str, list[int]]]:
    return [(e["event"]["status"], e["event"]["sequenceList"])
            for e in sms.published_events(phone, "AcceptStatusEvent")]


def test_inbound_sms_opens_a_conversation_and_the_agent_answer_is_sent_through_the_messages_api(
        sms: Sandboxes, phone: str) -> None:
    conversation_id = sms.open_conversation(phone, "Is my order shipped?")
    (conversation,) = sms.conversations(phone)
    assert conversation["conversation_id"] == conversation_id
    sent = sms.agent_says(conversation_id, "Yes, it left today.")
    wait_until(lambda: agent_texts(sms, phone), timeout=DEADLINE_S, what="the agent's SMS")
    (message,) = [m for m in sms.outbox(phone) if m["type"] == "text"]
    assert message["text"] == "Yes, it left today." and message["message_id"].startswith("SM")
    # Twilio reported the SMS delivered: LiveEngage hears ACCEPT on the agent message's sequence.
    wait_until(lambda: accept_statuses(sms, phone), timeout=DEADLINE_S, what="the ACCEPT")
    assert accept_statuses(sms, phone) == [("ACCEPT", [sent["sequence"]])]


def test_inbound_mms_image_is_uploaded_to_liveengage(sms: Sandboxes, phone: str) -> None:
    sms.open_conversation(phone, "photo coming")
    sms.consumer_does(phone, text="", file={"data_base64": base64.b64encode(PNG).decode(),
                                            "content_type": "image/png"})
    published = wait_until(lambda: [e for e in sms.published_events(phone)
                                    if e["event"]["contentType"] == "hosted/file"],
                           timeout=DEADLINE_S, what="the hosted file")
    path = published[0]["event"]["message"]["relativePath"]
    stored = sms.http.get(f"{sms.liveengage_url}/sandbox/files", params={"relative_path": path})
    assert stored.status_code == 200 and stored.content == PNG  # fetched with Twilio's Basic auth


def test_undelivered_sms_becomes_nack(sms: Sandboxes, phone: str) -> None:
    conversation_id = sms.open_conversation(phone, "my phone is about to die")
    sms.http.post(f"{sms.config.channel_url}/sandbox/twilio/unreachable/{phone}")
    sent = sms.agent_says(conversation_id, "Are you still there?")
    wait_until(lambda: accept_statuses(sms, phone), timeout=DEADLINE_S, what="the NACK")
    assert accept_statuses(sms, phone) == [("NACK", [sent["sequence"]])]


def test_long_agent_text_is_split_into_sms_that_fit(stack: Stack, sms: Sandboxes, phone: str) -> None:
    conversation_id = sms.open_conversation(phone, "tell me everything")
    words = " ".join(f"wörd{n}" for n in range(400))  # GSM-7 (ö is in it), about 3,000 characters
    sms.agent_says(conversation_id, words)
    wait_until(lambda: " ".join(agent_texts(sms, phone)) == words, timeout=DEADLINE_S, what="every part")
    parts = agent_texts(sms, phone)
    assert len(parts) >= 2 and all(len(p) <= 1600 and segments(p) <= 10 for p in parts)


def test_wrongly_signed_webhook_is_401_and_nothing_is_produced(stack: Stack, sms: Sandboxes, phone: str) -> None:
    twilio = stack.config.twilio_channels[0]
    sid = "SM" + uuid.uuid4().hex
    form = {"MessageSid": sid, "AccountSid": twilio.account_sid, "From": phone, "To": twilio.number,
            "Body": "forged", "NumMedia": "0"}
    url = f"{stack.config.channel_bridge_url}/v1/channels/{twilio.channel_id}/messages"
    refused = httpx.post(url, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    # A correctly signed control sent afterwards is in the topic; the forged one is not.
    control = sms.consumer_says(phone, "genuine")["message_id"]
    ids = wait_until(lambda: {r["event_id"] for _, r in read_topic(stack, CHANNEL_INBOUND)} >= {control}
                     and {r["event_id"] for _, r in read_topic(stack, CHANNEL_INBOUND)},
                     timeout=DEADLINE_S, what="the control message in the topic")
    assert sid not in ids


def test_stop_holds_agent_messages_back_nacks_them_and_tells_the_agent_once_until_start(
        stack: Stack, sms: Sandboxes, phone: str) -> None:
    notice = stack.config.opted_out_notice
    conversation_id = sms.open_conversation(phone, "hi")
    sms.consumer_says(phone, "Stop")
    wait_until(lambda: "Stop" in sms.published_texts(phone), timeout=DEADLINE_S, what="STOP at the agent")
    first = sms.agent_says(conversation_id, "Are you still there?")
    second = sms.agent_says(conversation_id, "Hello?")
    wait_until(lambda: len(accept_statuses(sms, phone)) == 2, timeout=DEADLINE_S, what="two NACKs")
    assert accept_statuses(sms, phone) == [("NACK", [first["sequence"]]), ("NACK", [second["sequence"]])]
    assert agent_texts(sms, phone) == []  # nothing reached the consumer
    wait_until(lambda: notice in sms.published_texts(phone), timeout=DEADLINE_S, what="the note to the agent")
    sms.consumer_says(phone, "START")
    wait_until(lambda: "START" in sms.published_texts(phone), timeout=DEADLINE_S, what="START at the agent")
    sms.agent_says(conversation_id, "Welcome back")
    wait_until(lambda: agent_texts(sms, phone) == ["Welcome back"], timeout=DEADLINE_S, what="the next SMS")
    assert sms.published_texts(phone).count(notice) == 1  # told once per opt-out


def test_opted_out_at_twilio_is_learned_from_error_21610(stack: Stack, sms: Sandboxes, phone: str) -> None:
    conversation_id = sms.open_conversation(phone, "hello")
    sms.http.post(f"{sms.config.channel_url}/sandbox/twilio/unsubscribed/{phone}")
    refused = sms.agent_says(conversation_id, "Can I help?")
    wait_until(lambda: accept_statuses(sms, phone), timeout=DEADLINE_S, what="the NACK")
    assert accept_statuses(sms, phone) == [("NACK", [refused["sequence"]])]
    wait_until(lambda: stack.config.opted_out_notice in sms.published_texts(phone), timeout=DEADLINE_S,
               what="the note to the agent")
    assert agent_texts(sms, phone) == []


def test_two_brands_and_three_numbers_in_one_stack_no_message_crosses_tenants(stack: Stack, phone: str) -> None:
    """One consumer texts three numbers: two of one brand, one of another brand (its own LiveEngage account)."""
    lanes = {channel: Sandboxes(stack, channel) for channel in ("sandbox-twilio", "brand-a-2", "brand-b")}
    try:
        opened = {channel: lane.open_conversation(phone, f"to {channel}") for channel, lane in lanes.items()}
        for channel, lane in lanes.items():
            lane.agent_says(opened[channel], f"from {channel}")
        for channel, lane in lanes.items():
            wait_until(lambda: agent_texts(lane, phone) == [f"from {channel}"], timeout=DEADLINE_S,
                       what=f"the agent's SMS from {channel}")
        everything = lanes["brand-b"].http.get(f"{stack.config.channel_url}/sandbox/outbox",
                                               params={"consumer_id": phone}).json()["messages"]
        assert sorted((m["channel_id"], m["text"]) for m in everything) == sorted(
            (channel, f"from {channel}") for channel in lanes)  # each from its own number, nothing else
        for channel, lane in lanes.items():  # each conversation holds its own two texts only
            assert lane.effects(phone) == [f"to {channel}", f"from {channel}"]
        # Each brand's LiveEngage holds only its own numbers' conversations with this consumer.
        for brand_url, channels in ((lanes["sandbox-twilio"].liveengage_url, {"sandbox-twilio", "brand-a-2"}),
                                    (lanes["brand-b"].liveengage_url, {"brand-b"})):
            held = httpx.get(f"{brand_url}/sandbox/conversations").json()["conversations"]
            mine = {c["ext_consumer_id"].split(":", 1)[0] for c in held if c["ext_consumer_id"].endswith(phone)}
            assert mine == channels
        assert lanes["brand-b"].liveengage_url != lanes["brand-a-2"].liveengage_url
    finally:
        for lane in lanes.values():
            lane.http.close()


def test_help_is_answered_at_once_and_reaches_the_agent(stack: Stack, sms: Sandboxes, phone: str) -> None:
    sms.consumer_says(phone, "help")
    wait_until(lambda: [m for m in sms.outbox(phone) if m["text"] == stack.config.help_reply], timeout=DEADLINE_S,
               what="the help text")
    wait_until(lambda: "help" in sms.published_texts(phone), timeout=DEADLINE_S, what="HELP at the agent too")
