"""The worker's pure transforms: channel event → command, SDEs and requests, LiveEngage event → channel message."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from streams import requests
from streams.agent_flow import addressed, consumer_content
from streams.consumer_flow import command_for
from streams.errors import UnknownChannelError
from streams.settings import ChannelRoute, WorkerSettings

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


@pytest.fixture
def settings() -> WorkerSettings:
    return WorkerSettings(
        liveengage_accounts={"acct": {"client_id": "c", "client_secret": "s"}},
        channels={"sms": {"account_id": "acct", "outbound_url": "http://gw/out", "outbound_token": "t",
                          "skill_id": "17", "campaign_id": "camp", "engagement_id": "eng",
                          "default_profile": {"language": "en-US", "customer_type": "standard"}}},
    )


def inbound(**overrides: Any) -> dict[str, Any]:
    return {"event_id": "m-1", "channel_id": "sms", "consumer_id": "+4917", "kind": "TEXT", "text": "hi",
            "profile": None, "sent_at": NOW, "received_at": NOW, "attributes": {}} | overrides


def test_command_carries_the_account_of_the_channel(settings: WorkerSettings) -> None:
    command = command_for(inbound(), settings)
    assert command["command_id"] == "m-1" and command["account_id"] == "acct"
    assert command["action"] == "PUBLISH_TEXT" and command["text"] == "hi"


def test_unknown_channel_is_a_record_error(settings: WorkerSettings) -> None:
    with pytest.raises(UnknownChannelError):
        command_for(inbound(channel_id="viber"), settings)


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


ROUTE = {"conversation_id": "c-1", "account_id": "acct", "channel_id": "sms", "consumer_id": "+4917",
         "opened_at": NOW}


def test_agent_text_becomes_a_channel_message() -> None:
    content = consumer_content(event())
    assert content is not None
    message = addressed(content, ROUTE)
    assert {k: message[k] for k in ("message_id", "channel_id", "consumer_id", "kind", "text", "sequence")} == {
        "message_id": "c-1:3", "channel_id": "sms", "consumer_id": "+4917", "kind": "TEXT", "text": "Hello!",
        "sequence": 3}


@pytest.mark.parametrize("record", [
    event(role="CONSUMER"),
    event(messageAudience="AGENTS_AND_MANAGERS"),
    event(event={"type": "ChatStateEvent", "chatState": "COMPOSING"}),
    event(event={"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": "/x"}}),
    event() | {"notification_type": "cqm.ExConversationChangeNotification"},
])
def test_what_the_consumer_must_not_see_is_dropped(record: dict[str, Any]) -> None:
    assert consumer_content(record) is None
