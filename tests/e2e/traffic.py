"""Consumers writing through the channel bridge while a fault is injected, and the invariant checked after it.

A is the texts the bridge acknowledged, K the records in lec.channel.inbound, E the texts in the LiveEngage
sandbox's conversations: A ⊆ K ⊆ E by a deadline, K without duplicates, E in each consumer's order and with no
more duplicates than the test allows (one per hard kill inside a send window), which it reports.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter

import httpx

from devstack.stack import Stack
from schemas.codec import codec
from schemas.topics import CHANNEL_INBOUND, CONVERSATIONS_TABLE, LIVEENGAGE_COMMANDS, TopicSpec
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, read_messages, read_topic

CONVERSATIONS_CHANGELOG = TopicSpec(f"lec-worker-{CONVERSATIONS_TABLE}-changelog", "ConversationState",
                                    "channel_id:consumer_id")

RECOVERY_S = 120.0


class Traffic:
    """Consumers writing in a background thread; A is what the bridge acknowledged, in order per consumer."""

    def __init__(self, stack: Stack, consumers: int, per_consumer: int, until: threading.Event | None = None) -> None:
        """``per_consumer`` texts each; with ``until``, at least that many, and more until it is set."""
        self.url = f"{stack.config.channel_url}/sandbox/consumers"
        # Ten random digits: with seven, two of the few hundred consumers a module's tests make could collide.
        self.consumers = [f"+1666{uuid.uuid4().int % 10**10:010d}" for _ in range(consumers)]
        self.per_consumer = per_consumer
        self.until = until
        self.acknowledged: dict[str, list[str]] = {c: [] for c in self.consumers}
        self.refused = 0
        self.sent = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            for n in itertools.count():
                if n >= self.per_consumer and (self.until is None or self.until.is_set()):
                    break
                for consumer in self.consumers:
                    text = f"{consumer} message {n}"
                    answer = client.post(f"{self.url}/{consumer}/messages", json={"text": text}).json()
                    if answer.get("bridge_status") == 202:
                        self.acknowledged[consumer].append(text)
                    else:
                        self.refused += 1
        self.sent.set()

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=RECOVERY_S)
        assert self.sent.is_set(), "the traffic did not finish"


def check_invariants(stack: Stack, sandboxes: Sandboxes, traffic: Traffic, repeats_per_conversation: int) -> int:
    """A ⊆ K ⊆ E by a deadline; K has no duplicates; per-consumer order in E; at most ``repeats_per_conversation``
    repeated effects in each consumer's conversation (one per hard kill: the send that was in flight); return E's
    duplicate count over all conversations."""
    traffic.join()
    acknowledged = [text for texts in traffic.acknowledged.values() for text in texts]

    def all_effected() -> bool:
        return all(set(texts) <= set(sandboxes.effects(c)) for c, texts in traffic.acknowledged.items())

    try:
        wait_until(all_effected, timeout=RECOVERY_S, what="every acknowledged text at LiveEngage", interval=0.5)
    except AssertionError:
        for consumer, texts in traffic.acknowledged.items():  # what is missing, and what LiveEngage was asked
            missing = [t for t in texts if t not in sandboxes.effects(consumer)]
            if missing:
                calls = [(r["endpoint"], r["payload"].get("type") if isinstance(r["payload"], dict) else "batch")
                         for r in sandboxes.send_api_requests(consumer)]
                inbound = [r["text"] for _, r in read_topic(stack, CHANNEL_INBOUND) if r["consumer_id"] == consumer]
                print(f"\nin {CHANNEL_INBOUND.name}: {inbound}\n{history(stack, consumer)}")
                print(f"\nmissing for {consumer}: {missing}\nconversations: "
                      f"{[(c['conversation_id'], c['state']) for c in sandboxes.conversations(consumer)]}\n"
                      f"effects: {sandboxes.effects(consumer)}\nSend API calls: {calls}")
        raise
    in_topic = Counter(record["text"] for key, record in read_topic(stack, CHANNEL_INBOUND)
                       if record["consumer_id"] in traffic.acknowledged)
    assert set(acknowledged) <= set(in_topic), "an acknowledged message is missing from Kafka"
    assert max(in_topic.values()) == 1, f"twice in Kafka: {[text for text, n in in_topic.items() if n > 1]}"
    repeats: dict[str, int] = {}
    for consumer, texts in traffic.acknowledged.items():
        seen = sandboxes.effects(consumer)
        assert set(in_topic) & set(seen) >= {t for t in in_topic if t.startswith(consumer)}
        repeats[consumer] = len(seen) - len(set(seen))
        first_seen = list(dict.fromkeys(seen))
        assert [t for t in first_seen if t in texts] == texts, f"order broken for {consumer}"
    duplicates = sum(repeats.values())
    print(f"\n{len(acknowledged)} acknowledged, {traffic.refused} refused, {duplicates} duplicate effects in "
          f"{sum(1 for n in repeats.values() if n)} of {len(repeats)} conversations (at most "
          f"{max(repeats.values(), default=0)} in one)")
    over = {consumer: n for consumer, n in repeats.items() if n > repeats_per_conversation}
    assert not over, f"more than {repeats_per_conversation} repeated effects in a conversation: {over}"
    return duplicates


def wait_for_some(sandboxes: Sandboxes, traffic: Traffic, count: int) -> None:
    wait_until(lambda: sum(len(sandboxes.effects(c)) for c in traffic.consumers) >= count, timeout=DEADLINE_S,
               what=f"{count} texts at LiveEngage", interval=0.2)


def history(stack: Stack, consumer: str) -> str:
    """What the worker did for ``consumer``, as Kafka has it: its commands and its conversation states, with their
    offsets (texts named instead of their event ids)."""
    texts = {record["event_id"]: record["text"] for _, record in read_topic(stack, CHANNEL_INBOUND)}
    commands_codec, states_codec = codec("LiveEngageCommand"), codec("ConversationState")
    lines = [f"{m.topic}[{m.partition}]@{m.offset} {c['action']} {c['text']} attempt {c['attempt']}"
             for m in read_messages(stack, LIVEENGAGE_COMMANDS.name)
             if (c := commands_codec.decode(m.value))["consumer_id"] == consumer]
    for message in read_messages(stack, CONVERSATIONS_CHANGELOG.name):
        if message.value is None or not message.key.decode().strip('"').endswith(consumer):
            continue
        state = states_codec.decode(message.value)
        pending = [commands_codec.decode(raw)["text"] for raw in state["pending"]]
        lines.append(f"{message.topic}[{message.partition}]@{message.offset} {state['status']} "
                     f"retrying={state['retrying']} pending={pending} "
                     f"ledger={[texts.get(id_, id_) for id_ in state['ledger']]}")
    return "\n".join(lines)
