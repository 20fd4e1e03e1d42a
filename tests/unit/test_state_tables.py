"""The worker's typed tables: a conversation's state is decoded once while the table holds the same bytes, and a
command's changes reach the table (its changelog) once per step, not once per change."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from streams import state as state_module
from streams.state import RecordTable, StagedRecords

ROUTE = {"conversation_id": "c-1", "account_id": "123", "channel_id": "sms", "consumer_id": "+1555",
         "opened_at": datetime(2026, 12, 6, tzinfo=timezone.utc), "forgotten": False}


class CountingTable(dict[str, bytes]):
    """A Faust table as far as ``RecordTable`` uses it, counting the writes (each one a changelog record)."""

    writes = 0

    def __setitem__(self, key: str, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = state_module.codec

    def counting_codec(name: str) -> Any:
        inner = real(name)

        class Counting:
            encode_single_object = staticmethod(inner.encode_single_object)

            @staticmethod
            def decode(raw: bytes) -> Any:
                seen.append(raw)
                return inner.decode(raw)

        return Counting()

    monkeypatch.setattr(state_module, "codec", counting_codec)
    return seen


def test_a_record_is_decoded_once_while_the_table_holds_the_same_bytes(decodes: list[bytes]) -> None:
    table = CountingTable()
    routes = RecordTable(table, "ConversationRoute")  # type: ignore[arg-type]
    routes.put("c-1", ROUTE)
    assert routes.get("c-1") == ROUTE and routes.get("c-1") == ROUTE
    assert decodes == []  # written here: known decoded
    table["c-1"] = bytes(bytearray(table["c-1"]))  # the same record, other bytes (as after a recovery from the changelog)
    assert routes.get("c-1") == ROUTE and routes.get("c-1") == ROUTE
    assert len(decodes) == 1


def test_staged_changes_reach_the_table_once_per_write(decodes: list[bytes]) -> None:
    table = CountingTable()
    staged = StagedRecords(RecordTable(table, "ConversationRoute"))  # type: ignore[arg-type]
    staged.put("c-1", ROUTE)
    staged.put("c-1", staged.get("c-1") | {"channel_id": "viber"})  # type: ignore[operator]
    assert table.writes == 0 and staged.get("c-1") == ROUTE | {"channel_id": "viber"}
    staged.write("c-1")
    staged.write("c-1")  # nothing staged since: nothing written
    assert table.writes == 1
    assert RecordTable(table, "ConversationRoute").get("c-1") == ROUTE | {"channel_id": "viber"}  # type: ignore[arg-type]


def test_a_scan_reads_each_record_in_turn_while_the_table_changes() -> None:
    table = CountingTable()
    routes = RecordTable(table, "ConversationRoute")  # type: ignore[arg-type]
    for n in range(3):
        routes.put(f"c-{n}", ROUTE | {"conversation_id": f"c-{n}"})
    scanned = []
    for key, route in routes.scan():
        scanned.append(route["conversation_id"])
        routes.delete("c-1")  # the sweep yields; meanwhile a record goes (a dict would refuse to go on)
        routes.put("c-9", ROUTE)
    assert scanned == ["c-0", "c-2"]
