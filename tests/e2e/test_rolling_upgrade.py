"""A rolling upgrade under traffic, in the order the README's upgrade notes give: the two workers one by one, then
each bridge behind its Service (a new process takes the Service's connections once ready, then the old one stops
gracefully). Consumers write throughout, and an agent answers throughout: per conversation, nothing acknowledged
is lost either way, the consumers' order is kept, and no send is repeated (a graceful stop repeats none)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devstack.stack import Stack
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, stack_of_its_own
from tests.e2e.traffic import RECOVERY_S, Traffic, check_invariants, wait_for_some

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_of_its_own(tmp_path_factory, "upgrade", bridge_services=True, webhook_retry_interval_s=0.5,
                          retry_delays_s=[0.3, 0.6, 1.2]) as running:
        running.start_worker("worker-2")
        yield running


class Agent:
    """An agent answering in open conversations in a background thread until stopped: what LiveEngage
    accepted (the sandbox then owes the webhook, which it retries until a bridge acknowledges it)."""

    def __init__(self, sandboxes: Sandboxes, conversations: dict[str, str]) -> None:
        self.sandboxes, self.conversations = sandboxes, conversations
        self.said: dict[str, list[str]] = {consumer: [] for consumer in conversations}
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            for consumer, conversation_id in self.conversations.items():
                text = f"agent reply {n} to {consumer}"
                self.sandboxes.agent_says(conversation_id, text)
                self.said[consumer].append(text)
            n += 1
            self.stop.wait(0.2)  # the pace of the agent's replies, not a wait for a condition

    def finish(self) -> None:
        self.stop.set()
        self._thread.join(timeout=RECOVERY_S)


def test_rolling_the_workers_then_the_bridges_loses_nothing(stack: Stack, sandboxes: Sandboxes) -> None:
    answered = {consumer: sandboxes.open_conversation(consumer, "hello before the upgrade")
                for consumer in (f"+1777000000{n}" for n in range(4))}
    agent = Agent(sandboxes, answered)
    rolled = threading.Event()
    traffic = Traffic(stack, consumers=8, per_consumer=10, until=rolled).start()
    wait_for_some(sandboxes, traffic, 20)
    for name in ("worker-2", "worker"):  # a StatefulSet rolls its pods one by one, the highest ordinal first
        stack.restart_worker(name)
        wait_for_some(sandboxes, traffic, sum(len(sandboxes.effects(c)) for c in traffic.consumers) + 5)
    for name in ("channel-bridge", "webhook-bridge"):
        stack.roll_bridge(name)
        wait_for_some(sandboxes, traffic, sum(len(sandboxes.effects(c)) for c in traffic.consumers) + 5)
    rolled.set()
    agent.finish()
    duplicates = check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1)
    assert duplicates == 0, "graceful stops repeat no send"

    def delivered(consumer: str) -> list[str]:
        return [m["text"] for m in sandboxes.outbox(consumer) if m.get("text", "").startswith("agent reply")]

    wait_until(lambda: all(set(said) <= set(delivered(c)) for c, said in agent.said.items()), timeout=DEADLINE_S,
               what="every agent reply at the channel")
    for consumer in agent.said:  # webhooks are retried on their own, so their order is LiveEngage's to keep
        seen = delivered(consumer)
        assert len(seen) - len(set(seen)) <= 1, f"an agent reply repeated more than once for {consumer}"
    assert sum(len(said) for said in agent.said.values()) >= 20
