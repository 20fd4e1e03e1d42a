"""The worker's pure transforms: channel event → command, SDEs and requests, LiveEngage event → channel message."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from streams import requests
from streams.agent_flow import consumer_content, conversation_change
from streams.consumer_flow import command_for
from schemas.codec import codec
from streams.errors import UnknownChannelError
from streams.settings import ChannelRoute, WorkerSettings

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


@pytest.fixture
def settings() -> WorkerSettings:
    return WorkerSettings(
        liveengage_accounts={"acct": {"client_id": "c", "client_secret": "s"}},
        channels={"sms": {"account_id": "acct", "outbound_url": "http://gw/out", "outbound_token": "t", "secret": "x",
                          "skill_id": "17", "campaign_id": "camp", "engagement_id": "eng",
                          "default_profile": {"language": "en-US", "customer_type": "standard"}}},
    )


def inbound(**overrides: Any) -> dict[str, Any]:
    return {"event_id": "m-1", "channel_id": "sms", "consumer_id": "+4917", "kind": "TEXT", "text": "hi",
            "profile": None, "sent_at": NOW, "received_at": NOW, "attributes": {}, "file": None,
            "receipt_status": None, "receipt_message_ids": [], "chat_state": None, "csat_rate": None,
            "fcr": None} | overrides


def test_command_carries_the_account_of_the_channel(settings: WorkerSettings) -> None:
    command = command_for(inbound(), settings, None)
    assert command["command_id"] == "m-1" and command["account_id"] == "acct"
    assert command["action"] == "PUBLISH_TEXT" and command["text"] == "hi"
    codec("LiveEngageCommand").encode(command)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"text": "2"}, {"action": "PUBLISH_TEXT", "text": "later"}),
    ({"kind": "RECEIPT", "text": None, "receipt_status": "read", "receipt_message_ids": ["c:3"]},
     {"action": "ACCEPT_STATUS", "accept_status": "READ", "message_ids": ["c:3"]}),
    ({"kind": "RECEIPT", "text": None, "receipt_status": "delivered"}, {"accept_status": "ACCEPT"}),
    ({"kind": "CHAT_STATE", "text": None, "chat_state": "paused"}, {"action": "CHAT_STATE", "chat_state": "PAUSE"}),
    ({"kind": "CLOSE", "text": None}, {"action": "CLOSE"}),
    ({"kind": "SURVEY", "text": None, "csat_rate": 5, "fcr": True},
     {"action": "SUBMIT_SURVEY", "csat_rate": 5, "fcr": True}),
    ({"kind": "FILE", "text": None, "file": {"url": "http://gw/f/1", "content_type": "image/png", "caption": None}},
     {"action": "PUBLISH_FILE"}),
])
def test_each_kind_becomes_its_command(settings: WorkerSettings, overrides: dict[str, Any],
                                       expected: dict[str, Any]) -> None:
    offered = {"message_id": "d-1:6", "choices": ["yep", "later"], "metadata": [None, None]}
    command = command_for(inbound(**overrides), settings, offered)
    assert {k: command[k] for k in expected} == expected
    codec("LiveEngageCommand").encode(command)


def test_unknown_channel_is_a_record_error(settings: WorkerSettings) -> None:
    with pytest.raises(UnknownChannelError):
        command_for(inbound(channel_id="viber"), settings, None)


def test_sdes_prefer_channel_values_over_defaults(settings: WorkerSettings) -> None:
    route = settings.channels["sms"]
    customer, personal = requests.sdes({"first_name": "Ana", "language": "pt-BR", "phone": "+4917"}, route, "sms:+4917")
    assert customer == {"type": "ctmrinfo", "info": {"ctype": "standard", "socialId": "sms:+4917"}}
    assert personal == {"type": "personal", "personal": {"firstname": "Ana", "language": "pt-BR",
                                                         "contacts": [{"phone": "+4917"}]}}


def test_sdes_fall_back_to_channel_defaults(settings: WorkerSettings) -> None:
    _, personal = requests.sdes(None, settings.channels["sms"], "sms:+4917")
    assert personal["personal"] == {"language": "en-US"}


def test_conversation_batch_profile_first_with_routing(settings: WorkerSettings) -> None:
    route: ChannelRoute = settings.channels["sms"]
    profile, opening = requests.open_conversation("acct", [], route)
    assert profile["type"] == "userprofile.SetUserProfile" and opening["type"] == "cm.ConsumerRequestConversation"
    assert opening["body"] == {"brandId": "acct", "channelType": "MESSAGING", "ttrDefName": "NORMAL",
                               "skillId": "17", "campaignInfo": {"campaignId": "camp", "engagementId": "eng"}}
    assert profile["id"] != opening["id"] and all(r["kind"] == "req" for r in (profile, opening))


def event(role: str = "ASSIGNED_AGENT", sequence: int | None = 3, **change: Any) -> dict[str, Any]:
    body = {"event": {"type": "ContentEvent", "contentType": "text/plain", "message": "Hello!"}} | change
    return {"event_id": f"c-1:{sequence}", "account_id": "acct", "notification_type": "ms.MessagingEventNotification",
            "conversation_id": "c-1", "dialog_id": "c-1", "sequence": sequence, "event_type": "ContentEvent",
            "originator_id": "a", "originator_role": role, "server_timestamp": 1, "received_at": NOW,
            "change_json": json.dumps(body)}


def test_agent_text_becomes_a_channel_message() -> None:
    content = consumer_content(event())
    assert content is not None
    assert {k: content[k] for k in ("message_id", "kind", "text", "sequence", "choices")} == {
        "message_id": "c-1:3", "kind": "TEXT", "text": "Hello!", "sequence": 3, "choices": []}


def test_rich_content_is_rendered_with_choices() -> None:
    card = {"type": "vertical", "elements": [{"type": "text", "text": "Pick one"},
                                             {"type": "button", "title": "A"}, {"type": "button", "title": "B"}]}
    content = consumer_content(event(event={"type": "RichContentEvent", "content": card}))
    assert content is not None
    assert content["text"] == "Pick one\n1. A\n2. B" and content["choices"] == ["A", "B"]


@pytest.mark.parametrize("record", [
    event(role="CONSUMER"),
    event(messageAudience="AGENTS_AND_MANAGERS"),
    event(event={"type": "ChatStateEvent", "chatState": "COMPOSING"}),
    event(event={"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]}),
    event(event={"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": "/x"}}),
    event() | {"notification_type": "cqm.ExConversationChangeNotification"},
])
def test_what_the_consumer_must_not_see_is_dropped(record: dict[str, Any]) -> None:
    assert consumer_content(record) is None


def cqm(details: dict[str, Any], change_type: str = "UPSERT") -> dict[str, Any]:
    change = {"type": change_type, "result": {"convId": "c-1", "conversationDetails": details}}
    return event() | {"notification_type": "cqm.ExConversationChangeNotification", "sequence": None,
                      "event_type": None, "change_json": json.dumps(change)}


def test_conversation_change_reads_state_dialog_skill_and_agent() -> None:
    details = {"state": "OPEN", "skillId": "42", "metaDataLastUpdateTs": 1717431522913,
               "participants": [{"id": "p", "role": "CONSUMER"}, {"id": "agent-7", "role": "ASSIGNED_AGENT"}],
               "dialogs": [{"dialogId": "c-1", "dialogType": "MAIN", "state": "CLOSE"},
                           {"dialogId": "s-1", "dialogType": "POST_SURVEY", "state": "OPEN"}]}
    change = conversation_change(cqm(details))
    assert change == {"conversation_id": "c-1", "state": "OPEN", "stage": None, "close_reason": None, "dialog_id": "s-1",
                      "dialog_type": "POST_SURVEY", "skill_id": "42", "agent_id": "agent-7",
                      "updated_at": 1717431522913}
    codec("ConversationChange").encode(change)


def test_closed_conversation_change() -> None:
    change = conversation_change(cqm({"state": "CLOSE", "closeReason": "AGENT", "skillId": "1",
                                      "metaDataLastUpdateTs": 5, "dialogs": [{"dialogId": "c-1", "state": "CLOSE"}]}))
    assert change is not None
    assert (change["state"], change["close_reason"], change["dialog_id"], change["agent_id"]) == \
        ("CLOSE", "AGENT", None, None)


def test_delete_changes_are_ignored() -> None:
    assert conversation_change(cqm({"state": "CLOSE"}, change_type="DELETE")) is None


def test_identity_merge_keeps_who_and_the_newest_change() -> None:
    from streams.identities import merged

    who = {"lp_consumer_id": "lp", "account_id": "acct", "channel_id": "sms", "consumer_id": "+4917", "change": None}
    old = {"conversation_id": "c-1", "state": "OPEN", "close_reason": None, "dialog_id": "c-1",
           "dialog_type": "MAIN", "skill_id": None, "agent_id": None, "updated_at": 10}
    new = old | {"conversation_id": "c-2", "updated_at": 20}
    news = {"lp_consumer_id": "lp", "account_id": "acct", "channel_id": None, "consumer_id": None}
    state = merged(None, who)
    state = merged(state, news | {"change": new})
    state = merged(state, news | {"change": old})  # arrives late: older, ignored
    assert state["change"] == new and state["channel_id"] == "sms" and state["consumer_id"] == "+4917"
    assert merged(state, who)["change"] == new  # an announcement keeps the change
