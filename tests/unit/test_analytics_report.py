"""The example analytics consumer's arithmetic: per-hour counts, response times, repeats dropped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from analytics.report import hourly, render

T0 = datetime(2026, 11, 25, 9, 58, tzinfo=timezone.utc)


def event(event_id: str, kind: str, seconds: float, conversation: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "kind": kind, "occurred_at": T0 + timedelta(seconds=seconds),
            "conversation_id": conversation, "latency_ms": None} | extra


def test_counts_and_response_times_per_hour() -> None:
    events = [
        event("o1", "CONVERSATION_OPENED", 0),
        event("m1", "CONSUMER_MESSAGE", 1, latency_ms=40),
        event("m2", "CONSUMER_MESSAGE", 30, latency_ms=60),  # still waiting since m1
        event("a1", "AGENT_MESSAGE", 61),  # answers m1: 60 s
        event("a2", "AGENT_MESSAGE", 70),  # nothing waiting: no response time
        event("m3", "CONSUMER_MESSAGE", 200),  # 10:01:20, next hour
        event("a3", "AGENT_MESSAGE", 210),  # 10 s
        event("x1", "UNKNOWN", 220),
        event("cl", "CONVERSATION_CLOSED", 230),
        event("o2", "CONVERSATION_OPENED", 240, conversation="c2"),
    ]
    first, second = hourly(events)
    assert first["hour"] == "2026-11-25T09:00:00+00:00"
    assert (first["conversations_opened"], first["consumer_messages"], first["agent_messages"]) == (1, 2, 2)
    assert first["responses"] == 1 and first["response_median_s"] == 60.0
    assert first["consumer_to_liveengage_median_ms"] == 50.0
    assert (second["conversations_opened"], second["conversations_closed"], second["conversations_active"]) == (1, 1, 2)
    assert second["responses"] == 1 and second["response_median_s"] == 10.0


def test_repeated_events_count_once_and_an_answer_after_a_close_is_no_response() -> None:
    events = [event("m1", "CONSUMER_MESSAGE", 0), event("m1", "CONSUMER_MESSAGE", 0),
              event("cl", "CONVERSATION_CLOSED", 5), event("a1", "AGENT_MESSAGE", 9)]
    (row,) = hourly(events)
    assert row["consumer_messages"] == 1 and row["responses"] == 0 and row["response_median_s"] is None


def test_render_shows_every_hour_and_says_when_there_is_nothing() -> None:
    table = render(hourly([event("m1", "CONSUMER_MESSAGE", 0), event("a1", "AGENT_MESSAGE", 12)]))
    assert "2026-11-25T09:00" in table and "12.0" in table
    assert "LEC_ANALYTICS_KEY" in render([])
