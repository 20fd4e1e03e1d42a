"""A record the worker cannot process goes to its dead-letter topic with context, and the worker keeps going."""

from __future__ import annotations

import uuid

import pytest

from devstack.stack import Stack
from schemas.topics import CHANNEL_INBOUND
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes, produce_raw, read_topic

pytestmark = pytest.mark.e2e


def test_poison_record_is_dead_lettered_and_the_next_message_flows(stack: Stack, sandboxes: Sandboxes,
                                                                    consumer: str) -> None:
    key = f"{stack.config.channel_id}:{consumer}"
    poison = b"not avro " + uuid.uuid4().bytes
    produce_raw(stack.bootstrap, CHANNEL_INBOUND.name, key, poison)
    sandboxes.consumer_says(consumer, "after the poison")

    def my_dead_letters() -> list[dict[str, object]]:
        return [letter for k, letter in read_topic(stack, CHANNEL_INBOUND.dead_letters) if k == key]

    (letter,) = wait_until(my_dead_letters, timeout=60, what="the dead letter")
    assert letter["value"] == poison and letter["key"] == key.encode()
    assert letter["source_topic"] == CHANNEL_INBOUND.name and letter["offset"] >= 0
    assert letter["error_class"] == "UndecodableRecordError" and "single-object" in letter["reason"]
    # Same partition, after the poison: it still reaches LiveEngage.
    wait_until(lambda: sandboxes.published_texts(consumer) == ["after the poison"], timeout=60,
               what="the message after the poison record")
