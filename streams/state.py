"""Typed access to the worker's changelog-backed tables, whose values are Avro single-object records."""

from __future__ import annotations

from typing import Any

from faust.types import TableT

from schemas.codec import codec


class RecordTable:
    """A Faust table of one Avro record type; ``get`` returns ``None`` for an unknown key.

    Writes go to the changelog partition of the event being processed, so only the agent that consumes the
    co-partitioned topic (same key, same partition count) may write.
    """

    def __init__(self, table: TableT[str, bytes], record_name: str) -> None:
        self._table = table
        self._codec = codec(record_name)

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._table.get(key)
        return None if raw is None else self._codec.decode(raw)

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._table[key] = self._codec.encode(record)


class SeenSet:
    """A changelog-backed set of keys (a Faust table of marker bytes), for dropping redelivered events.

    Same partition rule as ``RecordTable``: keys are added while processing the event they belong to.
    """

    MARK = b"1"

    def __init__(self, table: TableT[str, bytes]) -> None:
        self._table = table

    def __contains__(self, key: str) -> bool:
        return self._table.get(key) is not None

    def add(self, key: str) -> None:
        self._table[key] = self.MARK
