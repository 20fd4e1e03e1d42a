"""State retention's rules (``streams.retention``): what may be forgotten, and when."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore

from streams.retention import (COMPACT_AFTER_FORGOTTEN, ExpiryBacklog, Sweep, epoch_ms, identity_forgotten,
                               identity_unmatched_since, is_expired, routed_ids, stale_routes)
from streams.sender import closed, new_state
from streams.conversation import Trigger

NOW = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)
CUTOFF = NOW - timedelta(days=30)
LONG_AGO = NOW - timedelta(days=31)


def state(**changes: Any) -> dict[str, Any]:
    command = {"account_id": "123", "channel_id": "sms", "consumer_id": "+15550001"}
    return new_state(command) | {"updated_at": LONG_AGO} | changes


def test_a_closed_idle_conversation_expires() -> None:
    assert is_expired(state(), CUTOFF)


@pytest.mark.parametrize("changes", [
    {"updated_at": NOW},  # active since the cutoff
    {"status": "OPEN"},  # LiveEngage has not closed it: its close starts the clock
    {"status": "SURVEY"},
    {"status": "OPENING", "pending": [b"queued"]},
    {"pending": [b"queued"]},
    {"retrying": True},
])
def test_a_conversation_in_use_does_not_expire(changes: dict[str, Any]) -> None:
    assert not is_expired(state(**changes), CUTOFF)


def test_routes_of_conversations_closed_before_the_cutoff_are_stale() -> None:
    routes = {"open": 0, "closed-long-ago": epoch_ms(LONG_AGO), "closed-lately": epoch_ms(NOW)}
    assert stale_routes(routes, CUTOFF) == ["closed-long-ago"]


def test_closing_stamps_the_open_routes_only() -> None:
    before = epoch_ms(LONG_AGO)
    opened = state(status="OPEN", conversation_id="c-2", dialog_id="c-2", routes={"c-1": before, "c-2": 0})
    after = closed(opened, Trigger.AGENT_CLOSE)["routes"]
    assert after["c-1"] == before and after["c-2"] >= epoch_ms(NOW - timedelta(days=1))


def test_every_routed_id_is_forgotten_also_of_a_state_written_before_routes_were_kept() -> None:
    old = state(routes={}, conversation_id=None, last_conversation_id="c-1", dialog_id=None)
    assert routed_ids(old) == {"c-1"}
    surveyed = state(routes={"c-2": 0, "d-2": 0}, conversation_id="c-2", dialog_id="d-2", last_conversation_id="c-1")
    assert routed_ids(surveyed) == {"c-1", "c-2", "d-2"}


def identity(**changes: Any) -> dict[str, Any]:
    return {"lp_consumer_id": "lp-1", "account_id": "123", "channel_id": "sms", "consumer_id": "+15550001",
            "change": None, "seen_at": LONG_AGO, "forget_before": None} | changes


def test_a_request_to_forget_an_identity_spares_one_announced_since() -> None:
    assert identity_forgotten(identity(), NOW)
    assert identity_forgotten(identity(seen_at=None), NOW)  # written before identities were stamped
    assert not identity_forgotten(identity(seen_at=NOW + timedelta(seconds=1)), NOW)
    assert not identity_forgotten(None, NOW)


def test_only_identities_that_never_matched_a_consumer_age_out_by_themselves() -> None:
    assert identity_unmatched_since(identity()) is None  # forgotten with its consumer
    assert identity_unmatched_since(identity(channel_id=None, consumer_id=None)) == LONG_AGO
    change = {"updated_at": epoch_ms(LONG_AGO)}
    legacy = identity(channel_id=None, consumer_id=None, seen_at=None, change=change)
    assert identity_unmatched_since(legacy) == LONG_AGO


def test_a_sweep_waits_for_the_requests_of_the_last_one_while_they_are_being_handled() -> None:
    backlog = ExpiryBacklog()
    assert not backlog.waits({0, 1})
    backlog.requested(3, {0, 1})
    assert backlog.waits({0, 1})  # none handled yet
    backlog.handled()
    assert backlog.waits({0, 1})  # two left, and the count moved since the last sweep
    backlog.handled()
    backlog.handled()
    backlog.handled()  # a replayed request: never below zero
    assert backlog.outstanding == 0 and not backlog.waits({0, 1})


def test_a_rebalance_or_a_count_that_stopped_moving_lets_the_sweep_go_on() -> None:
    moved = ExpiryBacklog()
    moved.requested(2, {0, 1})
    assert not moved.waits({0})  # partition 1 went elsewhere with its requests
    stuck = ExpiryBacklog()
    stuck.requested(2, {0, 1})
    assert stuck.waits({0, 1})
    assert not stuck.waits({0, 1})  # nothing handled in a whole interval: the requests were lost (dead-lettered)


async def test_a_sweep_after_a_large_expiry_compacts_the_rocksdb_tables(tmp_path: Path) -> None:
    """Once the consumers a sweep asked to forget are handled, the next sweep compacts the RocksDB databases:
    the deleted values leave the files (and the memory a restarted worker spends on them)."""
    database = rocksdict.Rdict(str(tmp_path / "conversations-0"))
    for key in range(20_000):
        database[f"consumer-{key}".encode()] = b"state" * 40
    database.flush()
    for key in range(18_000):
        del database[f"consumer-{key}".encode()]
    database.flush()
    files_before = database.property_int_value("rocksdb.total-sst-files-size")

    class Table:  # a Collection on Faust's RocksDB store, as the worker's are with LEC_STORE=rocksdb
        data = object.__new__(RocksDBStore)

    Table.data._dbs_for_actives = lambda: iter([database])  # type: ignore[attr-defined]

    class Empty:
        def scan(self) -> list[tuple[str, dict[str, Any]]]:
            return []

    app = SimpleNamespace(rebalancing=False, assignor=SimpleNamespace(assigned_actives=lambda: set()))
    sweep = Sweep(app, None, Empty(), Empty(), 60, 4, ExpiryBacklog(), [Table()])  # type: ignore[arg-type]
    sweep._forgotten_since_compaction = COMPACT_AFTER_FORGOTTEN - 1
    await sweep.run()
    assert database.property_int_value("rocksdb.total-sst-files-size") == files_before  # not enough yet
    sweep._forgotten_since_compaction = COMPACT_AFTER_FORGOTTEN
    await sweep.run()
    assert database.property_int_value("rocksdb.total-sst-files-size") < files_before / 4
    assert sweep._forgotten_since_compaction == 0
    assert [key for key, _ in database.items()] == [f"consumer-{key}".encode() for key in range(18_000, 20_000)]
    database.close()
