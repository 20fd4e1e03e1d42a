"""Typed access to the worker's changelog-backed tables, whose values are Avro single-object records."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from faust.types import TableT

from schemas.codec import codec


DECODED_KEPT = 1024  # records kept decoded per table: the keys with work in flight and the recently busy


class RecordTable:
    """A Faust table of one Avro record type; ``get`` returns ``None`` for an unknown key.

    Writes go to the changelog partition of the event being processed, so only the agent that consumes the
    co-partitioned topic (same key, same partition count) may write.

    A record is decoded once while the table holds the same bytes: the last records read or written are kept
    decoded beside the bytes they came from (a conversation's state is read by every command of its consumer).
    The record returned is shared: callers build a new one to change it (``state | {...}``) and ``put`` that.
    """

    def __init__(self, table: TableT[str, bytes], record_name: str) -> None:
        self._table = table
        self._codec = codec(record_name)
        self._decoded: OrderedDict[str, tuple[bytes, dict[str, Any]]] = OrderedDict()

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._table.get(key)
        if raw is None:
            return None
        known = self._decoded.get(key)
        if known is not None and known[0] is raw:
            self._decoded.move_to_end(key)
            return known[1]
        record: dict[str, Any] = self._codec.decode(raw)
        self._remember(key, raw, record)
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        raw = self._codec.encode_single_object(record)
        self._table[key] = raw
        self._remember(key, raw, record)

    def delete(self, key: str) -> None:
        """Forget ``key``: its changelog gets a tombstone, so compaction removes it there too."""
        self._decoded.pop(key, None)
        if self._table.get(key) is not None:
            del self._table[key]

    def scan(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every key this worker holds with its record, decoded without displacing the busy keys' decodings
        (for the retention sweep, which reads outside any event and writes nothing). The keys are listed first,
        since the table changes while the caller yields, and each record is read only when its turn comes: a
        million of them never sit in memory at once."""
        for key in list(self._table.keys()):
            raw = self._table.get(key)
            if raw is not None:
                yield key, self._codec.decode(raw)

    def _remember(self, key: str, raw: bytes, record: dict[str, Any]) -> None:
        self._decoded[key] = (raw, record)
        self._decoded.move_to_end(key)
        if len(self._decoded) > DECODED_KEPT:
            self._decoded.popitem(last=False)


class StagedRecords:
    """One writer's records, changed in memory while a key's command runs and written to the table once per step.

    Each table write is an Avro encoding of the whole record and a changelog record; a command changes its
    conversation's state several times (its route, its published sequence, its ledger entry). ``put`` stages the
    record, ``write`` puts the staged record in the table: at the end of the command, and before each wait for
    Kafka's acknowledgement (a step that must be durable before the next send). The writer is the only one of its
    keys, and one command per key runs at a time (``streams.engine.lanes``).
    """

    def __init__(self, table: RecordTable) -> None:
        self._table = table
        self._staged: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        staged = self._staged.get(key)
        return staged if staged is not None else self._table.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._staged[key] = record

    def delete(self, key: str) -> None:
        self._staged.pop(key, None)
        self._table.delete(key)

    def write(self, key: str) -> None:
        record = self._staged.pop(key, None)
        if record is not None:
            self._table.put(key, record)


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

    def forget(self, key: str) -> None:
        if self._table.get(key) is not None:
            del self._table[key]

    def marker(self, key: str, prefix: str) -> str | None:
        """The value of the latest ``prefix``-marker kept under ``key`` (see ``mark``), if any."""
        return next((id_[len(prefix):] for id_ in reversed(self._ids(key)) if id_.startswith(prefix)), None)

    def mark(self, key: str, prefix: str, value: str) -> None:
        """Keep one ``prefix``-marker under ``key`` with ``value``, replacing the previous one: a small state
        beside the ids, such as the typing state a conversation's channel shows."""
        ids = [id_ for id_ in self._ids(key) if not id_.startswith(prefix)]
        self._table[key] = json.dumps([*ids[-(self._keep - 1):], prefix + value]).encode()
