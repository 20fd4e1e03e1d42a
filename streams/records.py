"""Decoding a Kafka event's value inside an agent loop, where a bad record must become a dead letter."""

from __future__ import annotations

from typing import Any

from faust.types import EventT

from schemas.codec import AvroCodec, DecodeError
from streams.errors import UndecodableRecordError
from telemetry import logs


def key_of(event: EventT[bytes]) -> str:
    """The event's key; ``UndecodableRecordError`` for a record without one (every topic here is keyed)."""
    if not isinstance(event.key, str) or not event.key:
        raise UndecodableRecordError("record has no key")
    return event.key


def decode(record_codec: AvroCodec, event: EventT[bytes]) -> dict[str, Any]:
    """The event's record; ``UndecodableRecordError`` (a dead-letter reason) when its bytes do not decode."""
    try:
        record = record_codec.decode(event.value)
    except DecodeError as exc:
        raise UndecodableRecordError(str(exc)) from exc
    # Its ids, for the JSON log lines of the task handling it (each topic names its id its own way).
    logs.bind(event_id=record.get("event_id") or record.get("command_id") or record.get("message_id"),
              conversation_id=record.get("conversation_id"))
    return record
