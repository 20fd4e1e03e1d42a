"""Every schema round-trips through the single-object codec, and bad bytes fail with DecodeError."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

import fastavro
import pytest

from schemas import all_record_names, earlier_writers, load
from schemas.codec import MARKER, DecodeError, EncodeError, codec, fingerprint

NOW = datetime(2026, 11, 25, 12, 0, 0, 123000, tzinfo=timezone.utc)
FILE = {"url": "http://gw/files/1", "content_type": "image/png", "caption": "damaged box"}
CHANGE = {"conversation_id": "c-1", "state": "CLOSE", "stage": "CLOSE", "close_reason": "AGENT", "dialog_id": None,
          "dialog_type": None, "skill_id": "17", "agent_id": "agent-1", "updated_at": 1717431522913}
PROFILE = {"first_name": "Maria", "last_name": "Keller", "email": "m@example.de", "phone": "+491701234567",
           "language": "de-DE", "customer_id": "C-1", "customer_type": "gold"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "liveengage.connector.ConsumerProfile": PROFILE,
    "liveengage.connector.ChannelInbound": {
        "event_id": "m-1", "channel_id": "sms", "consumer_id": "+491701234567", "kind": "TEXT", "text": "Grüße 👋",
        "profile": PROFILE, "sent_at": NOW, "received_at": NOW, "attributes": {"carrier": "x"}, "file": FILE,
        "receipt_status": "read", "receipt_message_ids": ["c-1:4"], "chat_state": "composing", "csat_rate": 5,
        "fcr": True},
    "liveengage.connector.ChannelFile": FILE,
    "liveengage.connector.ConversationChange": CHANGE,
    "liveengage.connector.OfferedChoices": {"message_id": "c-1:4", "choices": ["yes please", "no"],
                                            "metadata": ['[{"type":"ExternalId","id":"yes-1"}]', None]},
    "liveengage.connector.ParkedEvents": {"events": [b"\xc3\x01parked"], "first_parked_at": NOW, "partition": 3},
    "liveengage.connector.LiveEngageEvent": {
        "event_id": "d-1:4", "account_id": "74839201", "notification_type": "ms.MessagingEventNotification",
        "conversation_id": "c-1", "dialog_id": "d-1", "sequence": 4, "event_type": "ContentEvent",
        "originator_id": "agent-1", "originator_role": "ASSIGNED_AGENT", "server_timestamp": 1717430401234,
        "received_at": NOW, "change_json": "{\"sequence\":4}"},
    "liveengage.connector.LiveEngageCommand": {
        "command_id": "m-1", "account_id": "74839201", "channel_id": "sms", "consumer_id": "+491701234567",
        "action": "APPLY_CHANGE", "text": "hi", "answers": "c-1:4", "metadata_json": '[{"type":"Answer"}]',
        "profile": None, "created_at": NOW, "file": FILE,
        "accept_status": "READ", "message_ids": ["c-1:4"], "sequences": [0, 1], "chat_state": "PAUSE",
        "csat_rate": 4, "fcr": False, "change": CHANGE, "attempt": 2, "due_at": NOW},
    "liveengage.connector.ChannelOutbound": {
        "message_id": "c-1:4", "channel_id": "sms", "consumer_id": "+491701234567", "conversation_id": "c-1",
        "kind": "TEXT", "text": "Hi Maria", "sequence": 4, "created_at": NOW, "receipt_status": None,
        "receipt_message_ids": [], "typing": None, "file_url": None, "file_type": None, "notice": None,
        "choices": ["yes please", "no"],
        "choice_metadata": [None, '[{"type":"ExternalId","id":"no-2"}]']},
    "liveengage.connector.ConversationState": {
        "account_id": "74839201", "channel_id": "sms", "consumer_id": "+491701234567", "status": "OPEN",
        "conversation_id": "c-1", "dialog_id": "c-1", "lp_consumer_id": "ab" * 32, "consumer_jws": "a.b.c",
        "opened_at": NOW, "updated_at": NOW, "last_conversation_id": "c-0", "skill_id": "17",
        "agent_id": "agent-1", "change_ts": 1717431522913, "pending": [b"\xc3\x01queued"], "retrying": True,
        "ledger": ["m-0", "m-1"],
        "published": {"0": "m-1"}, "routes": {"c-0": 1717431500000, "c-1": 0}},
    "liveengage.connector.ConsumerIdentity": {
        "lp_consumer_id": "ab" * 32, "account_id": "74839201", "channel_id": "sms", "consumer_id": "+4917",
        "change": CHANGE, "seen_at": NOW, "forget_before": None},
    "liveengage.connector.ConversationRoute": {
        "conversation_id": "c-1", "account_id": "74839201", "channel_id": "sms", "consumer_id": "+4917",
        "opened_at": NOW, "forgotten": False},
    "liveengage.connector.AnalyticsEvent": {
        "event_id": "m-1", "kind": "CONSUMER_MESSAGE", "occurred_at": NOW, "account_id": "74839201",
        "channel_id": "sms", "conversation_id": "c-1", "consumer_digest": "0f" * 32, "content_type": "text/plain",
        "length": 12, "latency_ms": 41},
    "liveengage.connector.DeadLetter": {
        "source_topic": "lec.channel.inbound", "partition": 2, "offset": 17, "key": b"sms:+4917", "value": b"\x00",
        "error_class": "UndecodableRecordError", "reason": "bad bytes", "attempts": 1, "failed_at": NOW},
}


def test_every_schema_has_an_example() -> None:
    assert sorted(EXAMPLES) == all_record_names()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip(name: str) -> None:
    record_codec = codec(name)
    encoded = record_codec.encode(EXAMPLES[name])
    assert encoded[:2] == MARKER
    assert encoded[2:10] == fingerprint(load(name))
    assert record_codec.decode(encoded) == EXAMPLES[name]


def test_body_is_plain_avro_readable_by_any_reader() -> None:
    """After the 10-byte header comes standard Avro binary: fastavro's plain reader decodes it."""
    name = "liveengage.connector.ChannelOutbound"
    encoded = codec(name).encode(EXAMPLES[name])
    assert fastavro.schemaless_reader(io.BytesIO(encoded[10:]), load(name)) == EXAMPLES[name]


def test_optional_fields_take_their_defaults() -> None:
    minimal = {"event_id": "m", "channel_id": "c", "consumer_id": "u", "kind": "TEXT", "sent_at": NOW,
               "received_at": NOW}
    decoded = codec("ChannelInbound").decode(codec("ChannelInbound").encode(minimal))
    assert decoded["text"] is None and decoded["profile"] is None and decoded["attributes"] == {}


@pytest.mark.parametrize("data", [b"", b"{}", b"\xc3\x01short", MARKER + b"\x00" * 8 + b"\x02"])
def test_bad_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        codec("ChannelInbound").decode(data)


def test_record_of_another_type_is_refused() -> None:
    """Fingerprint known, but ConversationRoute does not resolve to ChannelInbound: DecodeError, not garbage."""
    other = codec("ConversationRoute").encode(EXAMPLES["liveengage.connector.ConversationRoute"])
    with pytest.raises(DecodeError):
        codec("ChannelInbound").decode(other)


def test_truncated_body_raises_decode_error() -> None:
    encoded = codec("ChannelOutbound").encode(EXAMPLES["liveengage.connector.ChannelOutbound"])
    with pytest.raises(DecodeError):
        codec("ChannelOutbound").decode(encoded[:20])


def test_record_that_does_not_fit_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        codec("ChannelOutbound").encode({"message_id": 5})


@pytest.mark.parametrize("writer", earlier_writers(), ids=lambda schema: schema["name"])
def test_records_of_an_earlier_schema_version_still_decode(writer: Any) -> None:
    """A record that an earlier release wrote (in a changelog, or a topic not yet read) decodes after the upgrade:
    the fields added since take their defaults."""
    name = writer["name"]
    earlier_record = {field["name"]: value for field in writer["fields"]
                      if (value := EXAMPLES[name].get(field["name"])) is not None or field["name"] in EXAMPLES[name]}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, earlier_record)
    data = MARKER + fingerprint(writer) + body.getvalue()
    assert fingerprint(writer) != fingerprint(load(name)), "history holds the current version: nothing to test"
    decoded = codec(name).decode(data)
    added = {field["name"]: field["default"] for field in load(name)["fields"]
             if field["name"] not in {f["name"] for f in writer["fields"]}}
    assert decoded == earlier_record | added
