"""LiveEngage events whose conversation has no route (yet), kept in order by conversation without holding up
the partition.

A webhook is account-wide: it carries conversations of other channels and apps that never become this
connector's, and events of ours that outran their route (a survey dialog's questions, a conversation an agent
started before the identity index matched its consumer). Such events are parked here and handled, in order, as
soon as the route is known; those still waiting after ``max_age_s``, or beyond ``max_events`` for one
conversation or ``max_conversations`` per partition, are dropped and counted (``lec_worker_foreign_events_total``).

Same partition rule as ``streams.state``: a key is written while handling a record of its partition, and the
sweep of expired keys only touches keys of the partition being handled (each entry records its partition).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from faust.types import TableT

from schemas.codec import codec
from streams import metrics

PARKED = codec("ParkedEvents")


class ParkedEvents:
    def __init__(self, table: TableT[str, bytes], *, max_age_s: float, max_events: int,
                 max_conversations: int) -> None:
        self._table = table
        self._max_age = timedelta(seconds=max_age_s)
        self._max_events = max_events
        self._max_conversations = max_conversations
        # Per partition, the parked keys and their first arrival, oldest first: rebuilt from the table the first
        # time a partition is seen in a consumer generation (after a rebalance another worker may have parked some).
        self._index: dict[int, tuple[int | None, dict[str, datetime]]] = {}

    def _get(self, key: str) -> dict[str, Any] | None:
        raw = self._table.get(key)
        return None if raw is None else PARKED.decode(raw)

    def _keys_of(self, partition: int, generation: int | None = None) -> dict[str, datetime]:
        indexed = self._index.get(partition)
        if indexed is None or (generation is not None and indexed[0] != generation):
            parked = [(key, PARKED.decode(raw)) for key, raw in list(self._table.items())]
            keys = dict(sorted(((key, p["first_parked_at"]) for key, p in parked if p["partition"] == partition),
                               key=lambda item: item[1]))
            indexed = self._index[partition] = (generation, keys)
        return indexed[1]

    def holds(self, key: str) -> bool:
        return key in self._table

    def park(self, key: str, raw: bytes, received_at: datetime, partition: int, generation: int | None) -> None:
        """Keep one more event of ``key``, after those already parked."""
        keys = self._keys_of(partition, generation)
        parked = self._get(key) or {"events": [], "first_parked_at": received_at, "partition": partition}
        if len(parked["events"]) >= self._max_events:
            metrics.FOREIGN_EVENTS.labels("too_many").inc()
            return  # the newest is dropped: those parked first keep their order
        if key not in keys and len(keys) >= self._max_conversations:
            self._drop(partition, next(iter(keys)), "too_many")
        parked["events"].append(raw)
        self._table[key] = PARKED.encode_single_object(parked)
        keys.setdefault(key, parked["first_parked_at"])

    def first(self, key: str) -> bytes | None:
        parked = self._get(key)
        return parked["events"][0] if parked and parked["events"] else None

    def pop_first(self, key: str, partition: int) -> None:
        """The first parked event was handled: forget it (and the key, once none is left)."""
        parked = self._get(key)
        if parked is None:
            return
        rest = parked["events"][1:]
        if rest:
            self._table[key] = PARKED.encode_single_object(parked | {"events": rest})
        else:
            del self._table[key]
            self._keys_of(partition).pop(key, None)

    def expire(self, partition: int, generation: int | None, now: datetime) -> None:
        """Drop the parked events of ``partition`` whose oldest is older than the age limit."""
        keys = self._keys_of(partition, generation)
        while keys:
            key, first = next(iter(keys.items()))
            if now - first < self._max_age:
                return
            self._drop(partition, key, "expired")

    def _drop(self, partition: int, key: str, reason: str) -> None:
        self._keys_of(partition).pop(key, None)
        parked = self._get(key)
        if parked is not None:
            metrics.FOREIGN_EVENTS.labels(reason).inc(len(parked["events"]))
            del self._table[key]
