"""Avro single-object encoding (the Avro specification's registry-free wire format) for every topic.

Each Kafka value is ``C3 01`` (two marker bytes), then the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's parsing canonical form, then the Avro binary body. A reader finds the writer schema by that
fingerprint among the schemas this package ships, so no Schema Registry is needed; any Avro library that
implements single-object encoding (Java's ``BinaryMessageDecoder``, fastavro, ...) can read our topics.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from typing import Any

import fastavro
import fastavro.schema

from schemas import SchemaError, all_record_names, earlier_writers, load

MARKER = b"\xc3\x01"
HEADER_LENGTH = len(MARKER) + 8


class DecodeError(SchemaError):
    """Bytes are not a single-object Avro record of the expected schema."""


class EncodeError(SchemaError):
    """A value does not fit its schema."""


def fingerprint(schema: Any) -> bytes:
    """The 8 CRC-64-AVRO fingerprint bytes (little-endian) of a parsed schema."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


@cache
def _writers_by_fingerprint() -> dict[bytes, Any]:
    current = [load(name) for name in all_record_names()]
    return {fingerprint(schema): schema for schema in [*earlier_writers(), *current]}


@dataclass(frozen=True)
class AvroCodec:
    """Encodes and decodes one record type in single-object encoding.

    ``decode`` resolves any known writer schema to this codec's reader schema, so older and newer writers that
    are schema-compatible decode to the current shape. It does not accept records of unrelated types.
    """

    record_name: str

    @property
    def schema(self) -> Any:
        return load(self.record_name)

    @property
    def header(self) -> bytes:
        return _header(self.record_name)

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self.header)
        try:
            fastavro.schemaless_writer(buffer, self.schema, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            message = f"record does not fit {self.record_name}: {exc}"
            raise EncodeError(message) from exc
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if not data or len(data) < HEADER_LENGTH or data[:2] != MARKER:
            message = f"not an Avro single-object record (expected {self.record_name})"
            raise DecodeError(message)
        writer = _writers_by_fingerprint().get(data[2:HEADER_LENGTH])
        if writer is None:
            message = f"unknown writer schema fingerprint {data[2:HEADER_LENGTH].hex()} (expected {self.record_name})"
            raise DecodeError(message)
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[HEADER_LENGTH:]), writer, self.schema)
        except Exception as exc:  # fastavro raises many types for truncated or mismatched data
            message = f"cannot decode {self.record_name}: {exc.__class__.__name__}"
            raise DecodeError(message) from exc
        assert isinstance(value, dict)
        return value


@cache
def _header(record_name: str) -> bytes:
    return MARKER + fingerprint(load(record_name))


@cache
def codec(record_name: str) -> AvroCodec:
    """The shared codec of one record type."""
    return AvroCodec(record_name)
