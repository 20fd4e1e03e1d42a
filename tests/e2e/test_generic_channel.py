"""The generic channel adapter's share of the per-adapter checks: a failed delivery becomes NACK, and STOP holds
agent messages back (the sandbox's generic channel has opt-out keywords on). Text, files, receipts and the
refused signature are in test_connector_api.py and test_walking_skeleton.py."""

from __future__ import annotations

import pytest

from devstack.stack import Stack
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes

pytestmark = pytest.mark.e2e


def accept_statuses(sandboxes: Sandboxes, consumer: str) -> list[tuple[str, list[int]]]:
    return [(e["event"]["status"], e["event"]["sequenceList"])
            for e in sandboxes.published_events(consumer, "AcceptStatusEvent")]


def test_failed_delivery_status_becomes_nack(sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "hello")
    sent = sandboxes.agent_says(conversation_id, "This one bounces.")
    delivered = wait_until(lambda: [m for m in sandboxes.outbox(consumer) if m["type"] == "text"],
                           timeout=DEADLINE_S, what="the agent text at the gateway")
    sandboxes.consumer_does(consumer, type="receipt", receipt={"status": "failed",
                                                              "message_ids": [delivered[0]["message_id"]]})
    wait_until(lambda: accept_statuses(sandboxes, consumer), timeout=DEADLINE_S, what="the NACK")
    assert accept_statuses(sandboxes, consumer) == [("NACK", [sent["sequence"]])]


def test_stop_on_a_generic_channel_holds_agent_texts_back(stack: Stack, sandboxes: Sandboxes,
                                                          consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "hi")
    sandboxes.consumer_says(consumer, "STOP")
    wait_until(lambda: "STOP" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="STOP at the agent")
    held = sandboxes.agent_says(conversation_id, "Still there?")
    wait_until(lambda: accept_statuses(sandboxes, consumer), timeout=DEADLINE_S, what="the NACK")
    assert accept_statuses(sandboxes, consumer) == [("NACK", [held["sequence"]])]
    wait_until(lambda: stack.config.opted_out_notice in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the note to the agent")
    assert not [m for m in sandboxes.outbox(consumer) if m["type"] == "text"]
