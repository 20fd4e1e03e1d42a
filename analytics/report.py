"""Per-hour figures from AnalyticsEvent records (see ``schemas/liveengage.connector.AnalyticsEvent.avsc``).

Events are at least once: repeats are dropped by ``event_id``. An agent's response time is the time from the
first consumer message not yet answered in its conversation to the next agent message; it counts in the hour of
that consumer message.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

KINDS = ("CONVERSATION_OPENED", "CONSUMER_MESSAGE", "AGENT_MESSAGE", "CONVERSATION_CLOSED")


@dataclass
class Hour:
    """What happened in one hour (UTC)."""

    start: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    conversations: set[str] = field(default_factory=set)
    response_s: list[float] = field(default_factory=list)
    connector_latency_ms: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "hour": self.start.isoformat(),
            "conversations_opened": self.counts["CONVERSATION_OPENED"],
            "conversations_closed": self.counts["CONVERSATION_CLOSED"],
            "conversations_active": len(self.conversations),
            "consumer_messages": self.counts["CONSUMER_MESSAGE"],
            "agent_messages": self.counts["AGENT_MESSAGE"],
            "responses": len(self.response_s),
            "response_median_s": _median(self.response_s),
            "response_p90_s": _quantile(self.response_s, 0.9),
            "consumer_to_liveengage_median_ms": _median(self.connector_latency_ms),
        }


def hourly(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per hour that had events, oldest first."""
    unique = list({event["event_id"]: event for event in events}.values())
    unique.sort(key=lambda event: event["occurred_at"])
    hours: dict[datetime, Hour] = {}
    waiting_since: dict[str, datetime] = {}  # conversation → first unanswered consumer message

    def hour_of(moment: datetime) -> Hour:
        start = moment.replace(minute=0, second=0, microsecond=0)
        return hours.setdefault(start, Hour(start))

    for event in unique:
        kind, at, conversation = event["kind"], event["occurred_at"], event["conversation_id"]
        if kind not in KINDS:
            continue  # a kind newer than this report
        hour = hour_of(at)
        hour.counts[kind] += 1
        hour.conversations.add(conversation)
        if kind == "CONSUMER_MESSAGE":
            waiting_since.setdefault(conversation, at)
            if event.get("latency_ms") is not None:
                hour.connector_latency_ms.append(event["latency_ms"])
        elif kind == "AGENT_MESSAGE" and conversation in waiting_since:
            asked = waiting_since.pop(conversation)
            hour_of(asked).response_s.append((at - asked) / timedelta(seconds=1))
        elif kind == "CONVERSATION_CLOSED":
            waiting_since.pop(conversation, None)
    return [hours[start].summary() for start in sorted(hours)]


def render(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table, one line per hour."""
    header = f"{'hour (UTC)':<17} {'opened':>6} {'closed':>6} {'active':>6} {'consumer':>8} {'agent':>6} " \
             f"{'replies':>7} {'reply p50 s':>11} {'reply p90 s':>11} {'to LE p50 ms':>12}"
    lines = [header]
    for row in rows:
        lines.append(
            f"{row['hour'][:16]:<17} {row['conversations_opened']:>6} {row['conversations_closed']:>6} "
            f"{row['conversations_active']:>6} {row['consumer_messages']:>8} {row['agent_messages']:>6} "
            f"{row['responses']:>7} {_show(row['response_median_s']):>11} {_show(row['response_p90_s']):>11} "
            f"{_show(row['consumer_to_liveengage_median_ms']):>12}")
    if not rows:
        lines.append("(no analytics events yet: is LEC_ANALYTICS_KEY set on the worker?)")
    return "\n".join(lines)


def _median(values: list[float] | list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
