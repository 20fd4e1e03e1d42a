"""The example analytics consumer (``python -m analytics``) after a conversation through the whole stack: its
per-hour counts match the distinct events in the topic, and the agent's reply shows as a response time."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from devstack.stack import Stack
from schemas.topics import ANALYTICS_EVENTS
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes, read_topic

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0


def test_hourly_report_counts_the_conversation_and_the_reply(stack: Stack, sandboxes: Sandboxes,
                                                             consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "Where is my parcel?")
    sandboxes.agent_says(conversation_id, "Let me check.")
    wait_until(lambda: sandboxes.outbox(consumer), timeout=DEADLINE_S, what="the agent's reply at the channel")

    def conversation_kinds() -> set[str]:
        return {event["kind"] for _, event in read_topic(stack, ANALYTICS_EVENTS)
                if event["conversation_id"] == conversation_id}

    wait_until(lambda: {"CONVERSATION_OPENED", "CONSUMER_MESSAGE", "AGENT_MESSAGE"} <= conversation_kinds(),
               timeout=DEADLINE_S, what="the conversation's analytics events")
    distinct = Counter(event["kind"] for event in {e["event_id"]: e for _, e in read_topic(stack, ANALYTICS_EVENTS)}
                       .values())

    done = subprocess.run([sys.executable, "-m", "analytics", "--bootstrap", stack.bootstrap, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows, done.stdout
    # Other tests share this stack and keep writing: the report read the topic later, so it has at least as many.
    totals = {key: sum(row[key] for row in rows) for key in
              ("conversations_opened", "consumer_messages", "agent_messages", "responses")}
    assert totals["conversations_opened"] >= distinct["CONVERSATION_OPENED"] >= 1
    assert totals["consumer_messages"] >= distinct["CONSUMER_MESSAGE"] >= 1
    assert totals["agent_messages"] >= distinct["AGENT_MESSAGE"] >= 1
    assert totals["responses"] >= 1
    assert all(row["response_median_s"] is None or row["response_median_s"] >= 0 for row in rows)

    table = subprocess.run([sys.executable, "-m", "analytics", "--bootstrap", stack.bootstrap],
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and rows[-1]["hour"][:13] in table.stdout
