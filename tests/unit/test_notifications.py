"""The webhook bridge's split of notifications into LiveEngageEvent records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateways.errors import BadRequestError
from gateways.liveengage.notifications import to_records
from schemas.codec import codec


def messaging(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": list(changes)}}


def change(sequence: int | None = 4, role: str = "ASSIGNED_AGENT", **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"originatorId": "a-1", "originatorMetadata": {"id": "a-1", "role": role},
                             "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"},
                             "dialogId": "d-1", "conversationId": "c-1", **extra}
    if sequence is not None:
        value |= {"sequence": sequence, "serverTimestamp": 1717430401234}
    return value


def test_each_change_becomes_a_record_keyed_by_conversation() -> None:
    records = to_records("acct", messaging(change(4), change(5, role="CONSUMER")))
    assert [key for key, _ in records] == ["c-1", "c-1"]
    first, second = (record for _, record in records)
    assert first["event_id"] == "d-1:4" and second["event_id"] == "d-1:5"
    assert first["originator_role"] == "ASSIGNED_AGENT" and second["originator_role"] == "CONSUMER"
    assert json.loads(first["change_json"]) == change(4)
    for _, record in records:
        codec("LiveEngageEvent").decode(codec("LiveEngageEvent").encode(record))


def test_chat_state_without_sequence_gets_a_stable_digest_id() -> None:
    typing = change(None, event={"type": "ChatStateEvent", "chatState": "COMPOSING"})
    (_, first), = to_records("acct", messaging(typing))
    (_, again), = to_records("acct", messaging(typing))
    assert first["sequence"] is None and first["event_id"] == again["event_id"]


def test_older_payload_without_conversation_id_is_keyed_by_dialog() -> None:
    old = change(2)
    del old["conversationId"]
    ((key, record),) = to_records("acct", messaging(old))
    assert key == "d-1" and record["conversation_id"] == "d-1"


def test_conversation_change_keyed_by_conv_id() -> None:
    notification = {"kind": "notification", "type": "cqm.ExConversationChangeNotification",
                    "body": {"changes": [{"type": "UPSERT", "result": {
                        "convId": "c-9", "conversationDetails": {"metaDataLastUpdateTs": 1717431522913}}}]}}
    ((key, record),) = to_records("acct", notification)
    assert key == "c-9" and record["event_id"] == "c-9@1717431522913" and record["event_type"] is None


@pytest.mark.parametrize(("notification", "problem"), [
    ({"type": "ms.Other", "body": {"changes": []}}, "unknown notification type"),
    ({"type": "ms.MessagingEventNotification"}, "body.changes must be an array"),
    (messaging("text"), "body.changes[0] must be an object"),
    (messaging(change(), {"event": {"type": "ContentEvent"}}), "body.changes[1].dialogId is missing"),
    (messaging(change(event={})), "body.changes[0].event.type is missing"),
    (messaging(change(sequence="4")), "body.changes[0].sequence must be an integer"),
    ({"type": "cqm.ExConversationChangeNotification", "body": {"changes": [{"result": {}}]}},
     "body.changes[0].result.convId is missing"),
])
def test_bad_notifications_name_the_problem(notification: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadRequestError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        to_records("acct", notification)
