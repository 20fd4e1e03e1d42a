"""Decoding a Kafka event's value inside an agent loop, where a bad record must become a dead letter."""

from __future__ import annotations

from typing import Any

from faust.types import EventT

from schemas.codec import AvroCodec, DecodeError
from streams.errors import UndecodableRecordError


def decode(record_codec: AvroCodec, event: EventT[bytes]) -> dict[str, Any]:
    """The event's record; ``UndecodableRecordError`` (a dead-letter reason) when its bytes do not decode."""
    try:
        return record_codec.decode(event.value)
    except DecodeError as exc:
        raise UndecodableRecordError(str(exc)) from exc
