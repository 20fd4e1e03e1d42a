"""The Avro wire formats of every topic: single-object encoding, and the Schema Registry's.

Single-object encoding (the Avro specification's registry-free format, the default): ``C3 01`` (two marker
bytes), then the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's parsing canonical form, then
the Avro binary body. A reader finds the writer schema by that fingerprint among the schemas this package ships.

Schema Registry format (once ``schemas.registry.connect`` registered the records this process writes): byte ``0``,
the writer schema's 4-byte big-endian registry id, then the body. A reader fetches the writer by its id.

Every codec reads both, whichever it writes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import fastavro
import fastavro.schema

from schemas import SchemaError, all_record_names, earlier_writers, load, qualified

MARKER = b"\xc3\x01"
HEADER_LENGTH = len(MARKER) + 8
REGISTRY_MAGIC = 0
REGISTRY_HEADER_LENGTH = 5


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


class WriterSource(Protocol):
    """Where writer schemas come from by registry id (``schemas.registry.RegistryWriters``)."""

    def writer(self, schema_id: int) -> Any: ...


@dataclass
class _Registry:
    """This process's registry: where its writer schemas come from, and the ids of the records it writes."""

    writers: WriterSource | None = None
    ids: dict[str, int] = field(default_factory=dict)


_registry = _Registry()


def use_registry(writers: WriterSource, ids: dict[str, int]) -> None:
    """Read the registry format through ``writers``; write it for the records in ``ids`` (record name: id)."""
    _registry.writers = writers
    _registry.ids = {qualified(name): schema_id for name, schema_id in ids.items()}


def use_single_object() -> None:
    """Back to the registry-free format, for writing and reading (tests, tools)."""
    _registry.writers = None
    _registry.ids = {}


@dataclass(frozen=True)
class AvroCodec:
    """Encodes and decodes one record type, in single-object encoding or the Schema Registry's (module doc).

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
        """The record in this process's wire format: the registry's once its schema is registered."""
        schema_id = _registry.ids.get(qualified(self.record_name))
        return self._encode(record, self.header if schema_id is None else
                            bytes([REGISTRY_MAGIC]) + schema_id.to_bytes(4, "big"))

    def encode_single_object(self, record: dict[str, Any]) -> bytes:
        """The record in single-object encoding whatever the wire format: for the worker's own state (tables and
        what they nest), which must stay readable without a registry."""
        return self._encode(record, self.header)

    def _encode(self, record: dict[str, Any], header: bytes) -> bytes:
        buffer = io.BytesIO()
        buffer.write(header)
        try:
            fastavro.schemaless_writer(buffer, self.schema, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            message = f"record does not fit {self.record_name}: {exc}"
            raise EncodeError(message) from exc
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        writer, body = self._writer(data)
        try:
            value = fastavro.schemaless_reader(io.BytesIO(body), writer, self.schema)
        except Exception as exc:  # fastavro raises many types for truncated or mismatched data
            message = f"cannot decode {self.record_name}: {exc.__class__.__name__}"
            raise DecodeError(message) from exc
        assert isinstance(value, dict)
        return value

    def _writer(self, data: bytes | None) -> tuple[Any, bytes]:
        """The writer schema of ``data`` and its Avro body, in either wire format."""
        if data and len(data) >= HEADER_LENGTH and data[:2] == MARKER:
            writer = _writers_by_fingerprint().get(data[2:HEADER_LENGTH])
            if writer is None:
                message = (f"unknown writer schema fingerprint {data[2:HEADER_LENGTH].hex()} "
                           f"(expected {self.record_name})")
                raise DecodeError(message)
            return writer, data[HEADER_LENGTH:]
        if data and len(data) > REGISTRY_HEADER_LENGTH and data[0] == REGISTRY_MAGIC:
            schema_id = int.from_bytes(data[1:REGISTRY_HEADER_LENGTH], "big")
            if _registry.writers is None:
                message = (f"record in the Schema Registry format (schema id {schema_id}) but no "
                           f"LEC_SCHEMA_REGISTRY_URL is set (expected {self.record_name})")
                raise DecodeError(message)
            return _registry.writers.writer(schema_id), data[REGISTRY_HEADER_LENGTH:]
        message = f"not an Avro single-object or Schema Registry record (expected {self.record_name})"
        raise DecodeError(message)


@cache
def _header(record_name: str) -> bytes:
    return MARKER + fingerprint(load(record_name))


@cache
def codec(record_name: str) -> AvroCodec:
    """The shared codec of one record type."""
    return AvroCodec(record_name)
