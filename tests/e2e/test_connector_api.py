"""The whole Connector API, both directions, through the real broker, worker, bridges and sandboxes.

One test per capability; each asserts what the sandboxes received (request bodies and their order).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.conftest import PNG, wait_until
from schemas.topics import LIVEENGAGE_EVENTS
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_topic_with_headers

pytestmark = pytest.mark.e2e

# The smallest valid PNG: one transparent pixel.


def outbox_where(sandboxes: Sandboxes, consumer: str, **match: Any) -> list[dict[str, Any]]:
    return [m for m in sandboxes.outbox(consumer) if all(m.get(k) == v for k, v in match.items())]


def wait_outbox(sandboxes: Sandboxes, consumer: str, what: str, **match: Any) -> list[dict[str, Any]]:
    return wait_until(lambda: outbox_where(sandboxes, consumer, **match), timeout=DEADLINE_S, what=what)


def test_1_first_message_opens_with_sdes_and_routing(sandboxes: Sandboxes, consumer: str) -> None:
    sandboxes.consumer_says(consumer, "Hi", profile={"first_name": "Ana", "customer_type": "vip"})
    wait_until(lambda: sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the text")
    (conversation,) = sandboxes.conversations(consumer)
    assert conversation["skill_id"] == sandboxes.config.skill_id
    assert conversation["campaign_info"] == {"campaignId": "3614998912", "engagementId": "3615001112"}
    customer_info, personal = conversation["sdes"]
    assert customer_info["info"]["ctype"] == "vip" and personal["personal"]["firstname"] == "Ana"
    (opening,) = [r for r in sandboxes.send_api_requests(consumer) if r["endpoint"] == "conversation"]
    assert [request["type"] for request in opening["payload"]] == ["userprofile.SetUserProfile",
                                                                   "cm.ConsumerRequestConversation"]


def test_2_image_is_uploaded_then_published_as_hosted_file(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.consumer_does(consumer, type="file", file={"data_base64": base64.b64encode(PNG).decode(),
                                                          "content_type": "image/png", "caption": "my parcel"})
    published = wait_until(lambda: [e for e in sandboxes.published_events(consumer)
                                    if e["event"]["contentType"] == "hosted/file"],
                           timeout=DEADLINE_S, what="the hosted file event")
    message = published[0]["event"]["message"]
    assert message["fileType"] == "PNG" and message["caption"] == "my parcel"
    assert published[0]["dialogId"] == conversation_id
    upload = [r["payload"] for r in sandboxes.send_api_requests(consumer)
              if r["endpoint"] == "send" and r["payload"]["type"] == "ms.GenerateURLForUploadFile"]
    assert upload and upload[0]["body"] == {"fileSize": str(len(PNG)), "fileType": "PNG"}
    # The bytes in the sandbox's storage are the consumer's bytes.
    download = sandboxes.http.get(f"{sandboxes.config.liveengage_url}/sandbox/files",
                                  params={"relative_path": message["relativePath"]})
    assert download.status_code == 200 and download.content == PNG


def test_3_consumer_receipts_become_accept_and_read(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sent = sandboxes.agent_says(conversation_id, "Let me check.")
    (delivered,) = wait_outbox(sandboxes, consumer, "the agent text", type="text")
    assert delivered["message_id"] == f"{conversation_id}:{sent['sequence']}"
    sandboxes.consumer_does(consumer, type="receipt", receipt={"status": "delivered",
                                                              "message_ids": [delivered["message_id"]]})
    sandboxes.consumer_does(consumer, type="receipt", receipt={"status": "read",
                                                              "message_ids": [delivered["message_id"]]})
    receipts = wait_until(lambda: len(sandboxes.published_events(consumer, "AcceptStatusEvent")) >= 2
                          and sandboxes.published_events(consumer, "AcceptStatusEvent"),
                          timeout=DEADLINE_S, what="two receipts")
    assert [(r["event"]["status"], r["event"]["sequenceList"]) for r in receipts] == [
        ("ACCEPT", [sent["sequence"]]), ("READ", [sent["sequence"]])]


def test_4_chat_states(sandboxes: Sandboxes, consumer: str) -> None:
    sandboxes.open_conversation(consumer)
    states = ["composing", "paused", "active", "inactive", "gone"]
    for state in states:
        sandboxes.consumer_does(consumer, type="typing", typing={"state": state})
    events = wait_until(lambda: len(sandboxes.published_events(consumer, "ChatStateEvent")) >= 5
                        and sandboxes.published_events(consumer, "ChatStateEvent"),
                        timeout=DEADLINE_S, what="five chat states")
    assert [e["event"]["chatState"] for e in events] == ["COMPOSING", "PAUSE", "ACTIVE", "INACTIVE", "GONE"]


def test_5_and_6_consumer_closes_then_answers_csat_and_fcr(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.consumer_does(consumer, type="close")
    sandboxes.consumer_does(consumer, type="survey", survey={"csat": 4, "fcr": True})
    wait_until(lambda: sandboxes.conversation_requests(consumer, "CSATRate"), timeout=DEADLINE_S, what="the CSAT")
    (close,) = sandboxes.conversation_requests(consumer, "ConversationStateField")
    assert close == {"conversationId": conversation_id,
                     "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}}
    (conversation,) = sandboxes.conversations(consumer)
    assert conversation["state"] == "CLOSE" and conversation["close_reason"] == "CONSUMER"
    assert conversation["csat"] == {"csatRate": 4, "csatResolutionConfirmation": True, "status": "FILLED"}
    assert not outbox_where(sandboxes, consumer, type="notice")  # the consumer closed it: nothing to tell


CARD = {"type": "vertical", "elements": [
    {"type": "text", "text": "Your order A-4471"},
    {"type": "button", "title": "Track", "click": {"actions": [{"type": "link", "uri": "https://t.example/1"}]}},
    {"type": "button", "title": "Talk to us", "click": {"actions": [{"type": "publishText", "text": "agent please"}]}},
]}


def test_7_structured_content_is_numbered_and_a_number_maps_back(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.agent(conversation_id, "messages", content=CARD)
    (card,) = wait_outbox(sandboxes, consumer, "the rendered card", type="text")
    assert card["text"] == "Your order A-4471\n1. Track (https://t.example/1)\n2. Talk to us"
    assert card["choices"] == ["Track", "agent please"]
    sandboxes.agent(conversation_id, "messages", text="Anything else?",
                    quick_replies={"type": "quickReplies", "replies": [
                        {"type": "button", "title": "No", "click": {"actions": [{"type": "publishText",
                                                                                 "text": "no thanks"}]}}]})
    wait_outbox(sandboxes, consumer, "the quick replies", text="Anything else?\n1. No")
    sandboxes.consumer_says(consumer, "1")
    wait_until(lambda: "no thanks" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the chosen reply")


def test_8_agent_receipts_and_typing_reach_the_channel(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "first")
    (mine,) = [m for m in sandboxes.send_api_requests(consumer) if m["endpoint"] == "send"]
    sandboxes.agent(conversation_id, "receipts", status="READ", sequences=[0])
    sandboxes.agent(conversation_id, "typing", state="COMPOSING")
    sandboxes.agent(conversation_id, "typing", state="ACTIVE")
    (receipt,) = wait_outbox(sandboxes, consumer, "the read receipt", type="receipt")
    assert receipt["receipt"]["status"] == "read" and len(receipt["receipt"]["message_ids"]) == 1
    assert receipt["receipt"]["message_ids"][0].startswith("m-")  # the channel's own id of "first"
    typing = wait_until(lambda: len(outbox_where(sandboxes, consumer, type="typing")) >= 2
                        and outbox_where(sandboxes, consumer, type="typing"), timeout=DEADLINE_S, what="typing")
    assert [t["typing"] for t in typing] == [True, False]
    assert mine["payload"]["body"]["event"]["message"] == "first"


def test_9_transfer_updates_state_and_tells_the_consumer(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.agent_says(conversation_id, "I'll pass you to billing.")
    sandboxes.agent(conversation_id, "transfer", skill_id="billing-42")
    (notice,) = wait_outbox(sandboxes, consumer, "the transfer notice", type="notice")
    assert notice["notice"] == "transferred" and "transferred" in notice["text"]
    sandboxes.consumer_says(consumer, "ok")  # still the same conversation
    wait_until(lambda: "ok" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the next text")
    assert len(sandboxes.conversations(consumer)) == 1


def test_10_agent_close_with_survey_then_resume(sandboxes: Sandboxes, consumer: str) -> None:
    """Item 10 and 11, and the lifecycle test: opened, transferred, closed with a survey, resumed. The survey runs
    as the PCS tutorial shows it: state CLOSE with stage OPEN, the bot's questions on the survey dialog only."""
    first = sandboxes.open_conversation(consumer, "my card was charged twice")
    sandboxes.agent(first, "transfer", skill_id="billing-42")
    wait_outbox(sandboxes, consumer, "the transfer notice", notice="transferred")
    survey = sandboxes.agent(first, "close", by="AGENT", survey=True)["survey_dialog_id"]
    (question,) = wait_outbox(sandboxes, consumer, "the survey question",
                              text="How would you rate your overall experience?\n1. 1\n2. 2\n3. 3\n4. 4\n5. 5\n6. Skip")
    assert question["conversation_id"] == first  # routed although the bot's changes name only the survey dialog
    assert any("survey bot" in (m["text"] or "") for m in outbox_where(sandboxes, consumer, type="text"))
    sandboxes.consumer_says(consumer, "5")
    wait_outbox(sandboxes, consumer, "the second question", text="Was your issue resolved?\n1. Yes\n2. No\n3. Skip")
    sandboxes.consumer_says(consumer, "1")
    wait_outbox(sandboxes, consumer, "the closed notice", notice="closed")
    answers = [e for e in sandboxes.published_events(consumer) if e["dialogId"] == survey]
    assert [e["event"]["message"] for e in answers] == ["5", "Yes"]
    assert all(e["conversationId"] == first for e in answers)
    # Each tapped answer is reported with its button's metadata first (ACTION on the question's sequence).
    actions = [r["payload"] for r in sandboxes.send_api_requests(consumer) if r["endpoint"] == "send"
               and r["payload"]["body"].get("event", {}).get("status") == "ACTION"]
    assert [a["metadata"][0]["type"] for a in actions] == ["Answer", "Answer"]
    (old,) = sandboxes.conversations(consumer)
    assert (old["state"], old["stage"]) == ("CLOSE", "CLOSE")
    assert [d["closed_cause"] for d in old["dialogs"] if d["type"] == "POST_SURVEY"] == ["Completed"]

    sandboxes.consumer_says(consumer, "one more thing")
    # The text follows the new conversation's opening: wait for both, not just the opening.
    wait_until(lambda: len(found := sandboxes.conversations(consumer)) == 2 and found[1]["dialogs"][0]["events"],
               timeout=DEADLINE_S, what="the text in a new conversation")
    old, new = sandboxes.conversations(consumer)
    assert old["conversation_id"] == first and old["state"] == "CLOSE"
    assert new["state"] == "OPEN" and new["consumer_id"] == old["consumer_id"]  # the same consumer identity
    assert new["dialogs"][0]["events"][0]["event"]["message"] == "one more thing"


def test_10_system_close_tells_the_channel(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.agent(conversation_id, "close", by="SYSTEM")
    (notice,) = wait_outbox(sandboxes, consumer, "the closed notice", type="notice")
    assert notice["notice"] == "closed"


def test_12_private_notes_and_echoes_are_not_sent(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "echo me")
    sandboxes.agent(conversation_id, "messages", text="note: VIP, be nice", private=True)
    sandboxes.agent_says(conversation_id, "visible")
    wait_outbox(sandboxes, consumer, "the visible text", text="visible")
    assert [m["text"] for m in outbox_where(sandboxes, consumer, type="text")] == ["visible"]


def test_12_echoes_are_marked_so_the_worker_drops_them_undecoded(stack: Stack, sandboxes: Sandboxes,
                                                                   consumer: str) -> None:
    """The webhook bridge writes each event's originator role as a header too: the worker drops the consumer's
    echo (one per text) by it, without decoding the record; the agent's text still reaches the channel."""
    conversation_id = sandboxes.open_conversation(consumer, "echo me")
    sandboxes.agent_says(conversation_id, "seen by the channel")
    wait_outbox(sandboxes, consumer, "the agent's text", text="seen by the channel")
    events = [(record, headers) for _, record, headers in read_topic_with_headers(stack, LIVEENGAGE_EVENTS)
              if record["conversation_id"] == conversation_id and record["event_type"] == "ContentEvent"]
    roles = {record["originator_role"]: headers.get("lec.originator_role") for record, headers in events}
    assert roles == {"CONSUMER": b"CONSUMER", "ASSIGNED_AGENT": b"ASSIGNED_AGENT"}
    assert [m["text"] for m in outbox_where(sandboxes, consumer, type="text")] == ["seen by the channel"]


def test_14_conversation_closed_unseen_is_reopened_and_the_text_resent(sandboxes: Sandboxes, consumer: str) -> None:
    first = sandboxes.open_conversation(consumer)
    sandboxes.agent(first, "close", by="SYSTEM", notify=False)  # the connector never hears of this close
    sandboxes.consumer_says(consumer, "are you there?")
    # The text follows the new conversation's opening: wait for both, not just the opening.
    wait_until(lambda: len(found := sandboxes.conversations(consumer)) == 2 and found[1]["dialogs"][0]["events"],
               timeout=DEADLINE_S, what="the text in a new conversation")
    old, new = sandboxes.conversations(consumer)
    assert old["conversation_id"] == first
    assert [e["event"]["message"] for e in new["dialogs"][0]["events"]] == ["are you there?"]
    refused = [r for r in sandboxes.send_api_requests(consumer) if r["endpoint"] == "send"
               and r["payload"]["body"].get("dialogId") == first
               and r["payload"]["body"]["event"].get("message") == "are you there?"]
    assert len(refused) == 1  # tried once in the closed one, then resent in the new one


def test_15_app_jwt_cached_renewed_on_401_and_consumer_jws_cached(stack: Stack, sandboxes: Sandboxes,
                                                                  consumer: str) -> None:
    auth = f"{stack.config.liveengage_url}/sandbox/auth"
    conversation_id = sandboxes.open_conversation(consumer, "one")
    before = sandboxes.http.get(auth).json()
    sandboxes.consumer_says(consumer, "two")
    wait_until(lambda: "two" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the second text")
    assert sandboxes.http.get(auth).json()["app_jwts"] == before["app_jwts"]  # cached, not fetched again

    sandboxes.http.post(f"{auth}/revoke")  # every AppJWT issued so far now answers 401
    sandboxes.consumer_says(consumer, "three")
    wait_until(lambda: "three" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the third text")
    assert sandboxes.http.get(auth).json()["app_jwts"] == before["app_jwts"] + 1  # renewed once, retried once
    assert sandboxes.published_texts(consumer) == ["one", "two", "three"]

    sandboxes.consumer_does(consumer, type="close")
    sandboxes.consumer_says(consumer, "new conversation")
    wait_until(lambda: "new conversation" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the text of the resumed conversation")
    assert len(sandboxes.conversations(consumer)) == 2
    assert sandboxes.conversations(consumer)[0]["conversation_id"] == conversation_id
    assert sandboxes.http.get(auth).json()["consumer_jws"][sandboxes.ext_consumer_id(consumer)] == 1


def test_16_redelivered_webhook_reaches_the_channel_once(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer)
    sandboxes.agent_says(conversation_id, "only once")
    wait_outbox(sandboxes, consumer, "the text", text="only once")
    (delivery,) = [d for d in sandboxes.webhook_deliveries()
                   if d["body"]["type"] == "ms.MessagingEventNotification"
                   and d["body"]["body"]["changes"][0]["event"].get("message") == "only once"]
    replay = httpx.post(f"{stack.config.liveengage_url}/sandbox/webhooks/redeliver", json={"index": delivery["index"]})
    assert replay.status_code == 200 and replay.json()["status"] == 200
    stack.restart_worker()  # the seen-events table survives the restart through its changelog
    replay = httpx.post(f"{stack.config.liveengage_url}/sandbox/webhooks/redeliver", json={"index": delivery["index"]})
    assert replay.status_code == 200 and replay.json()["status"] == 200
    sandboxes.agent_says(conversation_id, "after the replays")
    wait_outbox(sandboxes, consumer, "the next text", text="after the replays")
    assert [m["text"] for m in outbox_where(sandboxes, consumer, type="text")] == ["only once", "after the replays"]


def test_17_registered_webhooks(stack: Stack, sandboxes: Sandboxes) -> None:
    printed = stack.register_webhooks()
    assert "cqm.ExConversationChangeNotification" in printed and stack.config.webhook_url in printed
    installation = httpx.get(
        f"{stack.config.liveengage_url}/api/account/{stack.config.account_id}/configuration/app-install/"
        f"installations/{stack.config.client_id}", params={"v": "1.0"},
        headers={"Authorization": f"Bearer {stack.config.admin_token}"}).json()
    webhooks = installation["capabilities"]["webhooks"]
    assert webhooks["retry"] == {"retention_time": 86400}
    assert {k for k in webhooks if k != "retry"} == {
        "ms.MessagingEventNotification.ContentEvent", "ms.MessagingEventNotification.RichContentEvent",
        "ms.MessagingEventNotification.AcceptStatusEvent", "ms.MessagingEventNotification.ChatStateEvent",
        "cqm.ExConversationChangeNotification"}
    assert all(w["endpoint"] == stack.config.webhook_url for k, w in webhooks.items() if k != "retry")
    # Every webhook the sandbox sent went to the registered URL.
    assert {d["url"] for d in sandboxes.webhook_deliveries()} <= {stack.config.webhook_url}


def test_14_already_open_conversation_is_recovered_and_queued_texts_sent_in_order(
        stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    """An agent opened a conversation with the consumer before they ever wrote: LiveEngage answers 'already has
    open conversation'; the texts wait, in order, and go into that conversation once it is known."""
    opened = sandboxes.http.post(f"{stack.config.liveengage_url}/sandbox/consumers/conversations",
                                 json={"ext_consumer_id": sandboxes.ext_consumer_id(consumer)}).json()
    conversation_id = opened["conversation_id"]
    for text in ("first", "second", "third"):
        sandboxes.consumer_says(consumer, text)
    wait_until(lambda: len(sandboxes.published_texts(consumer)) >= 3, timeout=DEADLINE_S, what="three texts")
    (conversation,) = sandboxes.conversations(consumer)
    assert conversation["conversation_id"] == conversation_id
    assert [e["event"]["message"] for e in conversation["dialogs"][0]["events"]] == ["first", "second", "third"]
    refused = [r["payload"] for r in sandboxes.send_api_requests(consumer) if r["endpoint"] == "conversation"]
    assert refused  # the connector tried to open one, and LiveEngage refused
    sandboxes.agent_says(conversation_id, "I started this one")
    wait_outbox(sandboxes, consumer, "the agent's text", text="I started this one")


def test_11_agent_resumes_a_closed_conversation(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    first = sandboxes.open_conversation(consumer)
    sandboxes.agent(first, "close", by="AGENT")
    wait_outbox(sandboxes, consumer, "the closed notice", notice="closed")
    resumed = sandboxes.http.post(f"{stack.config.liveengage_url}/sandbox/consumers/conversations",
                                  json={"ext_consumer_id": sandboxes.ext_consumer_id(consumer)}).json()
    sandboxes.agent_says(resumed["conversation_id"], "Following up on your parcel")
    wait_outbox(sandboxes, consumer, "the resumed conversation's text", text="Following up on your parcel")
    sandboxes.consumer_says(consumer, "thanks!")

    def reply_in_resumed() -> bool:
        conversations = sandboxes.conversations(consumer)
        return len(conversations) == 2 and any(e["event"].get("message") == "thanks!"
                                               for e in conversations[1]["dialogs"][0]["events"])

    wait_until(reply_in_resumed, timeout=DEADLINE_S, what="the reply in the resumed conversation")
    assert [c["conversation_id"] for c in sandboxes.conversations(consumer)] == [first, resumed["conversation_id"]]
