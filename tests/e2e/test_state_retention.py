"""State retention and erasure (``streams.retention``), end to end: what the worker forgets leaves every table, and
each table's changelog gets a tombstone (so compaction removes it from Kafka too); the consumer who comes back
opens a new conversation. The module's stack keeps state 4 s and sweeps every second."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiokafka import TopicPartition

from devstack.stack import Stack
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import topics as catalogue
from schemas.codec import codec
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_messages, stack_of_its_own

pytestmark = pytest.mark.e2e
RETENTION_S = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker and stack of this module's own, whose worker forgets closed conversations after 4 s."""
    with stack_of_its_own(tmp_path_factory, "retention", worker_env={"LEC_STATE_RETENTION_S": str(RETENTION_S),
                                                                      "LEC_STATE_SWEEP_INTERVAL_S": "1"}) as running:
        yield running


def changelog(table: str) -> str:
    return f"lec-worker-{table}-changelog"


def latest_values(stack: Stack, topic: str) -> dict[str, bytes | None]:
    """The latest value of every key in ``topic`` (None: a tombstone), read from the beginning to the end."""
    # Faust writes table keys as JSON strings.
    return {message.key.decode().strip('"'): message.value for message in read_messages(stack, topic)}


def lp_consumer_id(stack: Stack, key: str) -> str:
    """The consumer's LiveEngage id, from their conversation state while the worker still keeps it."""
    state = latest_values(stack, changelog(catalogue.CONVERSATIONS_TABLE)).get(key)
    assert state is not None, "no conversation state for the consumer"
    return str(codec("ConversationState").decode(state)["lp_consumer_id"])


def wait_forgotten(stack: Stack, kept: dict[str, str]) -> None:
    """Wait until the latest record of each (table → key) in ``kept`` is a tombstone."""

    def left() -> dict[str, str]:
        return {table: key for table, key in kept.items()
                if latest_values(stack, changelog(table)).get(key, b"") is not None}

    wait_until(lambda: not left(), timeout=DEADLINE_S, interval=0.5, what="tombstones in every changelog")


def test_a_conversation_closed_longer_than_the_retention_is_forgotten(stack: Stack, sandboxes: Sandboxes,
                                                                      consumer: str) -> None:
    key = sandboxes.ext_consumer_id(consumer)
    first = sandboxes.round_trip(consumer, "Hello", "Hi, how can I help?")
    lp_id = lp_consumer_id(stack, key)
    sandboxes.agent(first, "close", by="AGENT")
    wait_forgotten(stack, {catalogue.CONVERSATIONS_TABLE: key, catalogue.DELIVERED_TABLE: key,
                           catalogue.ROUTES_TABLE: first, catalogue.SEEN_EVENTS_TABLE: first,
                           catalogue.IDENTITIES_TABLE: lp_id})
    sandboxes.consumer_says(consumer, "Back again")
    wait_until(lambda: len(sandboxes.conversations(consumer)) == 2 and "Back again" in
               [e["event"].get("message") for d in sandboxes.conversations(consumer)[-1]["dialogs"]
                for e in d["events"]], timeout=DEADLINE_S, what="a new conversation with the text")
    second = str(sandboxes.conversations(consumer)[-1]["conversation_id"])
    assert second != first
    sandboxes.agent_says(second, "Welcome back")
    wait_until(lambda: "Welcome back" in [m.get("text") for m in sandboxes.outbox(consumer)], timeout=DEADLINE_S,
               what="the agent's answer in the new conversation at the channel")


def test_an_open_conversation_is_kept_past_the_retention(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    key = sandboxes.ext_consumer_id(consumer)
    kept = sandboxes.round_trip(consumer, "Hello", "One moment")
    # Another consumer's conversation, closed after this one's last activity, being forgotten shows that a sweep
    # ran past the retention of this one's.
    other = f"{consumer}9"
    closed = sandboxes.round_trip(other, "Hello", "Bye")
    sandboxes.agent(closed, "close", by="AGENT")
    wait_forgotten(stack, {catalogue.CONVERSATIONS_TABLE: sandboxes.ext_consumer_id(other)})
    assert latest_values(stack, changelog(catalogue.CONVERSATIONS_TABLE)).get(key) is not None
    sandboxes.agent_says(kept, "Still here")
    wait_until(lambda: "Still here" in [m.get("text") for m in sandboxes.outbox(consumer)], timeout=DEADLINE_S,
               what="the agent's text after the retention, in the same conversation")
    assert len(sandboxes.conversations(consumer)) == 1


def test_erasure_forgets_everything_kept_about_a_consumer(stack: Stack, sandboxes: Sandboxes,
                                                          consumer: str) -> None:
    key = sandboxes.ext_consumer_id(consumer)
    first = sandboxes.round_trip(consumer, "Hello", "Hi!")
    sandboxes.consumer_says(consumer, "STOP")
    wait_until(lambda: "STOP" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="STOP at the agent")
    wait_until(lambda: latest_values(stack, changelog(catalogue.OPT_OUTS_TABLE)).get(key), timeout=DEADLINE_S,
               what="the opt-out kept")
    lp_id = lp_consumer_id(stack, key)
    erase = subprocess.run([sys.executable, "-m", "streams", "erase", "--channel", sandboxes.channel_id,
                            "--consumer", consumer], env=stack.worker_env("worker"), capture_output=True, text=True,
                           timeout=60)
    assert erase.returncode == 0, erase.stderr
    assert consumer not in erase.stdout + erase.stderr  # a consumer number is personal data: never printed
    wait_forgotten(stack, {catalogue.CONVERSATIONS_TABLE: key, catalogue.DELIVERED_TABLE: key,
                           catalogue.OPT_OUTS_TABLE: key, catalogue.ROUTES_TABLE: first,
                           catalogue.SEEN_EVENTS_TABLE: first, catalogue.IDENTITIES_TABLE: lp_id})
    # LiveEngage keeps its own conversation: once it is closed there, the consumer is a new one to the connector,
    # whose opt-out went with the rest.
    sandboxes.agent(first, "close", by="AGENT")
    sandboxes.consumer_says(consumer, "Hello again")
    wait_until(lambda: len(sandboxes.conversations(consumer)) == 2, timeout=DEADLINE_S, what="a new conversation")
    second = str(sandboxes.conversations(consumer)[-1]["conversation_id"])
    sandboxes.agent_says(second, "Welcome")
    wait_until(lambda: "Welcome" in [m.get("text") for m in sandboxes.outbox(consumer)], timeout=DEADLINE_S,
               what="the agent's text delivered: the opt-out was erased")


def test_erasure_names_an_unknown_channel(stack: Stack) -> None:
    erase = subprocess.run([sys.executable, "-m", "streams", "erase", "--channel", "no-such-channel", "--consumer",
                            "+15550000"], env=stack.worker_env("worker"), capture_output=True, text=True, timeout=60)
    assert erase.returncode == 2 and "no-such-channel" in erase.stderr
