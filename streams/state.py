"""Typed access to the worker's changelog-backed tables, whose values are Avro single-object records."""

from __future__ import annotations

import json
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


class RecentIds:
    """The ids most recently seen under each key (a conversation, a consumer), at most ``keep`` of them, for
    dropping repeats: redeliveries and replays come soon after the original, so a bounded window per key keeps
    the state's size proportional to conversations, not to messages.

    Same partition rule as ``RecordTable``: a key is written while processing an event of that key.
    """

    def __init__(self, table: TableT[str, bytes], keep: int) -> None:
        self._table = table
        self._keep = keep

    def _ids(self, key: str) -> list[str]:
        raw = self._table.get(key)
        return list(json.loads(raw)) if raw else []

    def seen(self, key: str, id_: str) -> bool:
        return id_ in self._ids(key)

    def add(self, key: str, id_: str) -> None:
        ids = self._ids(key)
        if id_ not in ids:
            self._table[key] = json.dumps([*ids[-(self._keep - 1):], id_]).encode()

    def marker(self, key: str, prefix: str) -> str | None:
        """The value of the latest ``prefix``-marker kept under ``key`` (see ``mark``), if any."""
        return next((id_[len(prefix):] for id_ in reversed(self._ids(key)) if id_.startswith(prefix)), None)

    def mark(self, key: str, prefix: str, value: str) -> None:
        """Keep one ``prefix``-marker under ``key`` with ``value``, replacing the previous one: a small state
        beside the ids, such as the typing state a conversation's channel shows."""
        ids = [id_ for id_ in self._ids(key) if not id_.startswith(prefix)]
        self._table[key] = json.dumps([*ids[-(self._keep - 1):], prefix + value]).encode()
