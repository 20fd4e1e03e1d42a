"""LiveEngage failing: retries by its rules without blocking other consumers, dead letters, replay after a fix.

Rows 20-23 of the fault matrix. Each test keeps A (ids the bridge acknowledged), and E (effects: texts in
the sandbox's conversations), and checks that nothing acknowledged is lost and nothing is doubled.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import TopicPartition

from devstack.stack import Stack
from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas.topics import LIVEENGAGE_COMMANDS
from tests.conftest import wait_until
from streams.errors import AMBIGUOUS_NOTE
from tests.e2e.conftest import DEADLINE_S, HTTP_TIMEOUT_S, Sandboxes, read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture
def faults(stack: Stack, sandboxes: Sandboxes) -> Iterator[str]:
    url = f"{stack.config.liveengage_url}/sandbox/faults"
    yield url
    sandboxes.http.delete(url)


def inject(sandboxes: Sandboxes, url: str, **fault: Any) -> None:
    assert sandboxes.http.post(url, json=fault).status_code == 200


def test_21_5xx_is_retried_and_each_text_arrives_once_in_order(sandboxes: Sandboxes, faults: str,
                                                                consumer: str) -> None:
    sandboxes.open_conversation(consumer, "before")
    inject(sandboxes, faults, endpoint="send", status=503, count=2,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    acknowledged = ["during 1", "during 2", "during 3"]
    for text in acknowledged:
        sandboxes.consumer_says(consumer, text)
    wait_until(lambda: len(sandboxes.effects(consumer)) >= 4, timeout=DEADLINE_S, what="every text")
    assert sandboxes.effects(consumer) == ["before", *acknowledged]
    refused = [t for t in sandboxes.published_texts(consumer) if t == "during 1"]
    assert len(refused) == 3  # two 503s, then accepted: retried, not dropped, not doubled


def test_21_a_retry_does_not_hold_up_other_consumers(sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    other = consumer[:-1] + ("1" if consumer[-1] != "1" else "2")
    sandboxes.open_conversation(consumer, "mine")
    sandboxes.open_conversation(other, "theirs")
    # The consumer's next text fails until the last retry (delays 0.3 + 0.6 + 1.2 s in the test stack).
    inject(sandboxes, faults, endpoint="send", status=500, count=3,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "stuck for a while")
    wait_until(lambda: "stuck for a while" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the first failing attempt")
    sandboxes.consumer_says(other, "not held up")
    wait_until(lambda: "not held up" in sandboxes.effects(other), timeout=DEADLINE_S, what="the other's text")
    # The other consumer's text went through while this one's retries (about 2 s in all) were still pending,
    # whatever partitions the two share.
    assert "stuck for a while" not in sandboxes.effects(consumer)
    wait_until(lambda: "stuck for a while" in sandboxes.effects(consumer), timeout=DEADLINE_S,
               what="the retried text")
    assert sandboxes.effects(consumer) == ["mine", "stuck for a while"]


def test_21_429_honours_retry_after(sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    sandboxes.open_conversation(consumer, "first")
    inject(sandboxes, faults, endpoint="send", status=429, retry_after_s=2, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "throttled")
    wait_until(lambda: "throttled" in sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the 429")
    refused_at = time.monotonic()
    wait_until(lambda: "throttled" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="the retry")
    assert time.monotonic() - refused_at >= 1.5  # not the 0.3 s schedule: Retry-After (2 s) wins
    assert sandboxes.effects(consumer) == ["first", "throttled"]


def test_22_expired_app_jwt_is_renewed_without_dead_letters(stack: Stack, sandboxes: Sandboxes,
                                                            consumer: str) -> None:
    sandboxes.open_conversation(consumer, "one")
    sandboxes.http.post(f"{stack.config.liveengage_url}/sandbox/auth/revoke")
    sandboxes.consumer_says(consumer, "two")
    wait_until(lambda: "two" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="the text after expiry")
    key = f"{stack.config.channel_id}:{consumer}"
    assert not [d for k, d in read_topic(stack, LIVEENGAGE_COMMANDS.dead_letters) if k == key]


def dead_letter_headers(stack: Stack, key: str) -> list[dict[str, str]]:
    async def read() -> list[dict[str, str]]:
        consumer = kafka.consumer(KafkaConnection(kafka_bootstrap=stack.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(LIVEENGAGE_COMMANDS.dead_letters.name, p)
                          for p in range(stack.config.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found = []
            for tp in partitions:
                while await consumer.position(tp) < ends[tp]:
                    for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                        if message.key == key.encode():
                            found.append({name: value.decode() for name, value in message.headers})
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_23_permanent_4xx_is_dead_lettered_the_partition_moves_and_replay_delivers(
        stack: Stack, sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    sandboxes.open_conversation(consumer, "hello")
    inject(sandboxes, faults, endpoint="send", status=400, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "refused once")
    sandboxes.consumer_says(consumer, "after it")
    wait_until(lambda: "after it" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="the next text")
    assert sandboxes.effects(consumer) == ["hello", "after it"]  # not retried: no retry storm on a 4xx
    assert Counter(sandboxes.published_texts(consumer))["refused once"] == 1
    key = f"{stack.config.channel_id}:{consumer}"
    (headers,) = wait_until(lambda: dead_letter_headers(stack, key), timeout=DEADLINE_S, what="the dead letter")
    assert headers["dlq.source.topic"] == LIVEENGAGE_COMMANDS.name
    assert headers["dlq.error.class"] == "RemoteRejectedError" and headers["dlq.attempts"] == "1"
    assert int(headers["dlq.source.offset"]) >= 0 and "refused" in headers["dlq.reason"]

    # The fault is gone ("fixed"): replaying the dead letters delivers the text, and a second replay nothing.
    replay = [sys.executable, "-m", "streams", "dead-letters", "replay", "--source", LIVEENGAGE_COMMANDS.name]
    first = subprocess.run(replay, env=stack.connector_env(), capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("replayed ") and not first.stdout.startswith("replayed 0")
    wait_until(lambda: "refused once" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="the replay")
    again = subprocess.run(replay, env=stack.connector_env(), capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == f"replayed 0 dead letters to {LIVEENGAGE_COMMANDS.name}"
    listed = subprocess.run([sys.executable, "-m", "streams", "dead-letters", "list", "--source",
                             LIVEENGAGE_COMMANDS.name], env=stack.connector_env(), capture_output=True, text=True,
                            timeout=60)
    assert "RemoteRejectedError" in listed.stdout and "refused once" not in listed.stdout  # no texts listed
    assert sandboxes.effects(consumer).count("refused once") == 1


def test_21_retries_exhausted_go_to_dead_letters_and_the_queue_moves_on(
        stack: Stack, sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    sandboxes.open_conversation(consumer, "start")
    inject(sandboxes, faults, endpoint="send", status=502, count=4,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "never accepted")
    sandboxes.consumer_says(consumer, "queued behind it")
    wait_until(lambda: "queued behind it" in sandboxes.effects(consumer), timeout=DEADLINE_S,
               what="the queued text")
    assert sandboxes.effects(consumer) == ["start", "queued behind it"]
    key = f"{stack.config.channel_id}:{consumer}"
    (headers,) = wait_until(lambda: dead_letter_headers(stack, key), timeout=DEADLINE_S, what="the dead letter")
    assert headers["dlq.error.class"] == "RemoteUnavailableError" and headers["dlq.attempts"] == "4"
    assert Counter(sandboxes.published_texts(consumer))["never accepted"] == 4


class AmbiguousFailures:
    """Counts the worker's reports of ambiguous failures (a call that may have taken effect) from now on."""

    def __init__(self, stack: Stack) -> None:
        self.worker = stack.processes["worker"]
        self.start = len(self.worker.log())

    def count(self) -> int:
        return self.worker.log()[self.start:].count(AMBIGUOUS_NOTE)


def test_21_timed_out_send_is_retried_and_its_duplicate_reported(stack: Stack, sandboxes: Sandboxes, faults: str,
                                                                 consumer: str) -> None:
    sandboxes.open_conversation(consumer, "before")
    ambiguous = AmbiguousFailures(stack)
    # LiveEngage answers later than the worker waits, but carries the call out: the worker cannot know it did.
    inject(sandboxes, faults, endpoint="send", delay_s=HTTP_TIMEOUT_S + 1.5, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "slow once")
    sandboxes.consumer_says(consumer, "after it")
    wait_until(lambda: Counter(sandboxes.effects(consumer)) == Counter(["before", "slow once", "slow once",
                                                                        "after it"]),
               timeout=DEADLINE_S, what="the retried text, the late original and the next text")
    # Nothing lost; the one duplicate (the late original) is the one reported ambiguous failure.
    assert ambiguous.count() == 1
    effects = sandboxes.effects(consumer)
    assert effects.index("slow once") < effects.index("after it")  # the retry kept the consumer's order


def test_21_connection_reset_after_the_send_is_retried_and_its_duplicate_reported(
        stack: Stack, sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    sandboxes.open_conversation(consumer, "before")
    ambiguous = AmbiguousFailures(stack)
    inject(sandboxes, faults, endpoint="send", reset=True, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "cut once")
    sandboxes.consumer_says(consumer, "after it")
    wait_until(lambda: "after it" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="the next text")
    assert sandboxes.effects(consumer) == ["before", "cut once", "cut once", "after it"]
    assert ambiguous.count() == 1  # duplicates at LiveEngage: at most 1 + ambiguous failures, and reported


def test_21_connection_reset_after_opening_recovers_the_opened_conversation(
        stack: Stack, sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    ambiguous = AmbiguousFailures(stack)
    inject(sandboxes, faults, endpoint="conversation", reset=True, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    sandboxes.consumer_says(consumer, "first words")
    sandboxes.consumer_says(consumer, "second words")
    wait_until(lambda: "second words" in sandboxes.effects(consumer), timeout=DEADLINE_S, what="both texts")
    # The conversation the cut answer opened is found again, not doubled; the texts arrive once, in order.
    assert len(sandboxes.conversations(consumer)) == 1
    assert sandboxes.effects(consumer) == ["first words", "second words"]
    assert ambiguous.count() == 1


def test_21_a_retried_opening_that_finds_the_conversation_open_waits_for_its_notification(
        stack: Stack, sandboxes: Sandboxes, faults: str, consumer: str) -> None:
    """The answer to opening a conversation is cut after LiveEngage opened it, and the conversation's notification
    comes late (the webhook bridge is down, LiveEngage retries it): the retried opening is answered 'already has
    open conversation', and the text waits for that notification, then goes into the conversation."""
    inject(sandboxes, faults, endpoint="conversation", reset=True, count=1,
           ext_consumer_id=sandboxes.ext_consumer_id(consumer))
    bridge = stack.processes["webhook-bridge"]
    bridge.stop()
    try:
        sandboxes.consumer_says(consumer, "first words")
        wait_until(lambda: len([r for r in sandboxes.send_api_requests(consumer) if r["endpoint"] == "conversation"])
                   >= 2, timeout=DEADLINE_S, what="the retried opening")
    finally:
        bridge.start()
        bridge.wait_http(f"{stack.config.webhook_bridge_url}/readyz")
    wait_until(lambda: "first words" in sandboxes.effects(consumer), timeout=DEADLINE_S,
               what="the text, once the notification arrived")
    assert len(sandboxes.conversations(consumer)) == 1
