"""Events parked for their route (bounded by age and count), and texts split to LiveEngage's request limit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from prometheus_client import REGISTRY

from streams.parking import ParkedEvents
from streams.requests import SEND_LIMIT_CHARS, body_bytes, publish, text_event, text_parts

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("lec_worker_foreign_events_total", {"reason": reason}) or 0.0


def parked(**limits: Any) -> tuple[dict[str, bytes], ParkedEvents]:
    table: dict[str, bytes] = {}
    settings = {"max_age_s": 60.0, "max_events": 3, "max_conversations": 2} | limits
    return table, ParkedEvents(table, **settings)  # type: ignore[arg-type]


def test_parked_events_come_back_in_order_and_leave_no_key() -> None:
    table, parking = parked()
    for n in range(3):
        parking.park("c-1", f"e{n}".encode(), T0, 0, 1)
    handed = []
    while (raw := parking.first("c-1")) is not None:
        handed.append(raw)
        parking.pop_first("c-1", 0)
    assert handed == [b"e0", b"e1", b"e2"] and not table and not parking.holds("c-1")


def test_too_many_events_of_one_conversation_drop_the_newest() -> None:
    _, parking = parked()
    before = dropped("too_many")
    for n in range(5):
        parking.park("c-1", f"e{n}".encode(), T0, 0, 1)
    assert dropped("too_many") - before == 2 and parking.first("c-1") == b"e0"


def test_too_many_conversations_drop_the_oldest() -> None:
    _, parking = parked()
    for key in ("c-1", "c-2", "c-3"):
        parking.park(key, b"e", T0, 0, 1)
    assert not parking.holds("c-1") and parking.holds("c-2") and parking.holds("c-3")


def test_old_events_expire_only_in_their_own_partition() -> None:
    table, parking = parked(max_conversations=10)
    parking.park("c-1", b"e", T0, 0, 1)
    parking.park("c-2", b"e", T0, 1, 1)
    parking.park("c-3", b"e", T0 + timedelta(seconds=50), 0, 1)
    before = dropped("expired")
    parking.expire(0, 1, T0 + timedelta(seconds=61))
    assert set(table) == {"c-2", "c-3"} and dropped("expired") - before == 1


def test_the_index_is_rebuilt_from_the_table_after_a_restart() -> None:
    table, parking = parked(max_conversations=10)
    parking.park("c-1", b"e", T0, 2, 1)
    restarted = ParkedEvents(table, max_age_s=60.0, max_events=3, max_conversations=10)
    restarted.expire(2, 1, T0 + timedelta(seconds=61))
    assert not table


def test_the_index_is_rebuilt_in_a_new_generation() -> None:
    """After a rebalance another worker may have parked events of a partition that comes back."""
    table, parking = parked(max_conversations=10)
    parking.park("c-1", b"e", T0, 2, 1)
    table["c-2"] = table["c-1"]  # parked by the worker that had partition 2 meanwhile
    parking.expire(2, 1, T0 + timedelta(seconds=61))
    assert set(table) == {"c-2"}  # this generation's index does not know it
    parking.expire(2, 2, T0 + timedelta(seconds=61))
    assert not table


def cost(text: str, metadata: list[Any] | None = None) -> int:
    """Characters LiveEngage counts for one SEND request carrying ``text`` (UTF-16 code units)."""
    request = publish("c" * 36, "c" * 36, text_event(text), metadata)
    return len(body_bytes(request).decode().encode("utf-16-le")) // 2


def test_a_text_that_fits_is_sent_as_it_is() -> None:
    assert text_parts("  Hello,\n world  ") == ["  Hello,\n world  "]
    assert text_parts("Здравствуйте " * 300) == ["Здравствуйте " * 300]  # 3,900 characters, unescaped


def test_long_texts_are_split_between_words_within_the_limit() -> None:
    for text in ("word " * 2000, "🙂🙂🙂 " * 1500, '"quoted" \n' * 900, "x" * 12000):
        parts = text_parts(text)
        assert len(parts) > 1 and all(cost(p) <= SEND_LIMIT_CHARS for p in parts)
        assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in text_parts("word " * 2000))


def test_parts_leave_room_for_the_answer_metadata() -> None:
    metadata = [{"type": "Answer", "questionId": "q" * 36, "id": "a" * 36, "provider": "AC"}] * 20
    parts = text_parts("word " * 1000, metadata)
    assert len(parts) > 1 and all(cost(p, metadata) <= SEND_LIMIT_CHARS for p in parts)


def test_bodies_are_utf8_without_ascii_escapes() -> None:
    body = body_bytes({"message": "Grüße 🙂"})
    assert json.loads(body) == {"message": "Grüße 🙂"} and b"\\u" not in body
