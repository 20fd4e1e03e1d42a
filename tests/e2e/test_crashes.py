"""Processes dying under load: the worker (SIGTERM, SIGKILL, a second worker joining and leaving) and the broker
(SIGTERM, SIGKILL), and a worker that cannot write a dead letter. Rows 12, 13, 15, 17, 18, 19, 24, 25 and 26
of the fault matrix.

Each test keeps A (message ids the channel bridge acknowledged), K (ids in lec.channel.inbound) and E (texts
in the LiveEngage sandbox's conversations), and checks A ⊆ K ⊆ E by a deadline, K without duplicates, and E
without duplicates except at most one per hard kill inside a send window, which it reports.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.stack import Stack, StackConfig
from emulators.liveengage.webhooks import Signing
from kafkaclients import KafkaConnection, admin_client
from schemas.topics import CHANNEL_INBOUND, LIVEENGAGE_COMMANDS, LIVEENGAGE_EVENTS
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes, produce_raw, read_topic
from tests.e2e.traffic import (CONVERSATIONS_CHANGELOG, RECOVERY_S, Traffic, check_invariants, history,
                               wait_for_some)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaBroker, Stack]]:
    """A broker and stack of this module's own: these tests kill them."""
    broker = KafkaBroker(log_path=tmp_path_factory.mktemp("chaos-kafka") / "broker.log", keep_data=True)
    broker.start()
    # The worker's produce patience stays at its default (30 s): a broker restart under load was seen taking
    # 15 s, and a worker that exits on purpose after its patience is not what these tests are about.
    config = StackConfig.on_free_ports(retry_delays_s=[0.3, 0.6, 1.2, 2.4],
                                       worker_env={"LEC_SESSION_TIMEOUT_S": "6"})
    stack = Stack(broker.bootstrap, config, Path(tmp_path_factory.mktemp("chaos-stack")))
    try:
        stack.start()
        yield broker, stack
    finally:
        stack.stop()
        broker.keep_data = False
        broker.stop()


@pytest.fixture
def sandboxes(chaos: tuple[KafkaBroker, Stack]) -> Iterator[Sandboxes]:
    helper = Sandboxes(chaos[1])
    yield helper
    helper.http.close()


def test_18_worker_sigterm_mid_stream_loses_and_doubles_nothing(chaos: tuple[KafkaBroker, Stack],
                                                                sandboxes: Sandboxes) -> None:
    _, stack = chaos
    traffic = Traffic(stack, consumers=3, per_consumer=8).start()
    wait_for_some(sandboxes, traffic, 4)
    stack.restart_worker()  # SIGTERM, a clean stop, then a new worker recovering the tables
    assert check_invariants(stack, sandboxes, traffic, repeats_per_conversation=0) == 0


def test_17_worker_sigkill_mid_stream_loses_nothing(chaos: tuple[KafkaBroker, Stack], sandboxes: Sandboxes) -> None:
    _, stack = chaos
    traffic = Traffic(stack, consumers=3, per_consumer=8).start()
    wait_for_some(sandboxes, traffic, 4)
    worker = stack.processes["worker"]
    worker.signal(9)
    assert worker.process is not None
    worker.process.wait(30)
    stack.start_worker()
    check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1)
    # Row 26: the changelog (what a recovering worker rebuilds its state from) lists every text LiveEngage
    # received in its conversation's ledger, so a replay of any of them is a no-op. The entry is written just
    # after LiveEngage answers the send: the last text's may still be on its way when the texts are all there.
    event_ids = {record["text"]: record["event_id"] for _, record in read_topic(stack, CHANNEL_INBOUND)}

    def not_in_ledgers() -> list[str]:
        ledgers: dict[str, list[str]] = {}
        for key, state in read_topic(stack, CONVERSATIONS_CHANGELOG):
            ledgers[key.strip('"')] = state["ledger"]  # the last state written per consumer wins
        return [consumer for consumer in traffic.consumers
                if not {event_ids[text] for text in sandboxes.effects(consumer)}
                <= set(ledgers.get(f"{stack.config.channel_id}:{consumer}", []))]

    try:
        wait_until(lambda: not not_in_ledgers(), timeout=30, what="every sent text in its consumer's ledger",
                   interval=0.5)
    except AssertionError:
        raise AssertionError("\n".join(f"a sent text not in the ledger:\n{history(stack, consumer)}"
                                       for consumer in not_in_ledgers())) from None


def in_flight(stack: Stack, topic: str) -> tuple[int, int]:
    """Records and conversations in flight in the running worker's lanes for ``topic``, from its /metrics."""
    text = httpx.get(f"{stack.config.url(stack.config.worker_web_port)}/metrics", timeout=10).text
    values = {name: int(float(value)) for name, value in (line.rsplit(" ", 1) for line in text.splitlines()
                                                          if line.startswith("lec_worker_") and f'"{topic}"' in line)}
    labels = f'{{topic="{topic}"}}'
    return values.get(f"lec_worker_records_in_flight{labels}", 0), values.get(f"lec_worker_keys_in_flight{labels}", 0)


def wait_serving_every_partition(stack: Stack, topic: str) -> None:
    """Wait until the running worker, alone in its group, has recovered its tables and looks at every partition of
    ``topic`` again (its /metrics): a worker left in table recovery after a rebalance fails here, by name."""
    url = f"{stack.config.url(stack.config.worker_web_port)}/metrics"
    seen: dict[str, str] = {}

    def serving() -> bool:
        text = httpx.get(url, timeout=10).text
        seen["recovering"] = " ".join(line for line in text.splitlines() if line.startswith("lec_worker_recover"))
        partitions = {line for line in text.splitlines() if line.startswith("lec_worker_consumer_lag{")
                      and f'topic="{topic}"' in line}
        return "lec_worker_recovering 0.0" in seen["recovering"] and len(partitions) == stack.config.partitions

    try:
        wait_until(serving, timeout=RECOVERY_S, what=f"the worker serving every partition of {topic}")
    except AssertionError:
        raise AssertionError(f"the worker did not serve every partition again after the rebalance: "
                             f"{seen.get('recovering')}") from None


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "rebalance", "broker-sigkill"])
def test_a_crash_with_fifty_conversations_in_flight(chaos: tuple[KafkaBroker, Stack], sandboxes: Sandboxes,
                                                    how: str) -> None:
    """Sixty consumers write at once while every Send API call is slowed down, so that fifty or more of their
    conversations are in flight together in the worker's lanes when it is killed (or a second worker joins and leaves, or the
    broker is killed): per conversation, nothing acknowledged is lost, order is kept, and at most one send is
    repeated (none after a SIGTERM or a rebalance)."""
    broker, stack = chaos
    faults = f"{stack.config.liveengage_url}/sandbox/faults"
    # Sixty write, so that fifty have a record in flight at once within the worker's 64 (a conversation can
    # hold two of them, one running and one queued behind it).
    consumers, per_consumer, wanted = 60, 4, 50
    traffic = Traffic(stack, consumers=consumers, per_consumer=per_consumer)
    slow = {"endpoint": "send", "delay_s": 1.0, "count": consumers * per_consumer * 2}
    try:
        assert sandboxes.http.post(faults, json=slow).status_code == 200
        traffic.start()
        seen: list[tuple[int, int]] = []

        def enough_in_flight() -> int:
            seen.append(in_flight(stack, LIVEENGAGE_COMMANDS.name))
            return seen[-1][1] if seen[-1][1] >= wanted else 0

        try:
            busiest = wait_until(enough_in_flight, timeout=RECOVERY_S, what=f"{wanted} conversations in flight",
                                 interval=0.05)
        except AssertionError:
            raise AssertionError(f"at most {max(seen)} (records, conversations) in flight") from None
        worker = stack.processes["worker"]
        if how == "sigkill":
            worker.signal(9)
            assert worker.process is not None
            worker.process.wait(30)
            stack.start_worker()
        elif how == "sigterm":
            stack.restart_worker()
        elif how == "rebalance":
            stack.start_worker("worker-2")  # once it is ready: partitions moved to it, lanes drained first
            stack.processes["worker-2"].stop()  # SIGTERM: they move back
            wait_serving_every_partition(stack, LIVEENGAGE_COMMANDS.name)
        else:
            broker.kill()
            broker.restart()
    finally:
        sandboxes.http.delete(faults)
    allowed = {"sigkill": 1, "sigterm": 0, "rebalance": 0, "broker-sigkill": 1}[how]
    duplicates = check_invariants(stack, sandboxes, traffic, repeats_per_conversation=allowed)
    print(f"{how} with {busiest} conversations in flight: {duplicates} repeated sends in all")


def sigkill_mid_drain(stack: Stack, sandboxes: Sandboxes, consumer: str, faults: list[dict[str, object]],
                      queued: list[str], under_way: int, before: int = 0) -> list[str]:
    """Inject ``faults``, have ``consumer`` write ``queued``, SIGKILL the worker once ``under_way`` texts are at
    LiveEngage (``before`` of them sent earlier) and the drain is not done, restart it and wait for every queued
    text, with no new one from the consumer: the texts at LiveEngage, in order."""
    url = f"{stack.config.liveengage_url}/sandbox/faults"
    try:
        for fault in faults:
            assert sandboxes.http.post(url, json=fault).status_code == 200
        for text in queued:
            sandboxes.consumer_says(consumer, text)
        wait_until(lambda: len(sandboxes.effects(consumer)) >= under_way, timeout=RECOVERY_S,
                   what="the drain under way")
        worker = stack.processes["worker"]
        worker.signal(9)
        assert worker.process is not None
        worker.process.wait(30)
        assert len(sandboxes.effects(consumer)) < before + len(queued), "the drain ended before the kill"
        stack.start_worker()
        wait_until(lambda: set(queued) <= set(sandboxes.effects(consumer)), timeout=RECOVERY_S,
                   what="every queued text after the restart")
    finally:
        sandboxes.http.delete(url)
    return sandboxes.effects(consumer)


def test_a_crash_mid_drain_repeats_at_most_one_queued_text(chaos: tuple[KafkaBroker, Stack],
                                                            sandboxes: Sandboxes) -> None:
    """Texts queue behind a send LiveEngage refused twice (503); its retry then sends them one after another, each
    slowed down, and the worker is SIGKILLed between two of them. Each sent text is in the ledger, durably, before
    the next one goes, so the replay repeats at most the one that was in flight; the replayed retry record goes on
    with the drain."""
    _, stack = chaos
    consumer = f"+1777{uuid.uuid4().int % 10**7:07d}"
    sandboxes.open_conversation(consumer, "before")
    ext_id = sandboxes.ext_consumer_id(consumer)
    queued = [f"queued {n}" for n in range(1, 7)]
    effects = sigkill_mid_drain(stack, sandboxes, consumer, [
        {"endpoint": "send", "status": 503, "count": 2, "ext_consumer_id": ext_id},
        {"endpoint": "send", "delay_s": 1.0, "count": len(queued), "ext_consumer_id": ext_id}],
        queued, under_way=3, before=1)
    assert list(dict.fromkeys(effects)) == ["before", *queued]  # order kept
    assert len(effects) - len(set(effects)) <= 1, effects  # at most the send in flight repeated


def test_a_crash_mid_drain_after_an_adoption_goes_on_without_a_new_text(chaos: tuple[KafkaBroker, Stack],
                                                                       sandboxes: Sandboxes) -> None:
    """An agent opened a conversation with the consumer: LiveEngage refuses the connector's own (slowly, so that
    all the texts queue behind it), the conversation's notification adopts it and the queued texts go, each
    slowed down; the worker is SIGKILLed between two. The replayed notification goes on with the drain: no new
    text from the consumer is needed, and at most the send in flight is repeated."""
    _, stack = chaos
    consumer = f"+1778{uuid.uuid4().int % 10**7:07d}"
    ext_id = sandboxes.ext_consumer_id(consumer)
    opened = sandboxes.http.post(f"{stack.config.liveengage_url}/sandbox/consumers/conversations",
                                 json={"ext_consumer_id": ext_id}).json()
    queued = [f"waiting {n}" for n in range(1, 7)]
    effects = sigkill_mid_drain(stack, sandboxes, consumer, [
        {"endpoint": "conversation", "delay_s": 1.0, "count": 1, "ext_consumer_id": ext_id},
        {"endpoint": "send", "delay_s": 1.0, "count": len(queued), "ext_consumer_id": ext_id}],
        queued, under_way=2)
    assert f"OPENING retrying=False pending={queued}" in history(stack, consumer), "the texts all queued"
    (conversation,) = sandboxes.conversations(consumer)
    assert conversation["conversation_id"] == opened["conversation_id"]  # adopted, not a new one
    assert list(dict.fromkeys(effects)) == queued  # order kept
    assert len(effects) - len(set(effects)) <= 1, effects  # at most the send in flight repeated


def test_19_a_second_worker_joins_and_leaves_mid_stream(chaos: tuple[KafkaBroker, Stack],
                                                       sandboxes: Sandboxes) -> None:
    _, stack = chaos
    traffic = Traffic(stack, consumers=4, per_consumer=8).start()
    wait_for_some(sandboxes, traffic, 4)
    stack.start_worker("worker-2")
    wait_for_some(sandboxes, traffic, 14)
    stack.processes["worker-2"].stop()
    wait_serving_every_partition(stack, CHANNEL_INBOUND.name)
    check_invariants(stack, sandboxes, traffic, repeats_per_conversation=0)  # the lanes drain before each move


def test_25_conversations_continue_after_local_state_is_lost(chaos: tuple[KafkaBroker, Stack],
                                                            sandboxes: Sandboxes) -> None:
    _, stack = chaos
    consumer = f"+1666{uuid.uuid4().int % 10**7:07d}"
    conversation_id = sandboxes.open_conversation(consumer, "before the crash")
    worker = stack.processes["worker"]
    worker.signal(9)
    assert worker.process is not None
    worker.process.wait(30)
    for leftover in (stack.run_dir / "worker").glob("**/*"):
        if leftover.is_file():
            leftover.unlink()
    stack.start_worker()
    sandboxes.consumer_says(consumer, "after the crash")
    wait_until(lambda: "after the crash" in sandboxes.effects(consumer), timeout=RECOVERY_S, what="the text")
    assert [c["conversation_id"] for c in sandboxes.conversations(consumer)] == [conversation_id]  # state kept
    sandboxes.agent_says(conversation_id, "still routed")
    wait_until(lambda: any(m.get("text") == "still routed" for m in sandboxes.outbox(consumer)),
               timeout=RECOVERY_S, what="the agent's text through the recovered route")


def signed_webhook(stack: Stack, conversation_id: str) -> tuple[bytes, dict[str, str]]:
    change = {"sequence": 0, "originatorId": "a", "originatorMetadata": {"id": "a", "role": "ASSIGNED_AGENT"},
              "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "x"},
              "conversationId": conversation_id, "dialogId": conversation_id}
    body = httpx.Request("POST", "http://x", json={"kind": "notification", "type": "ms.MessagingEventNotification",
                                                   "body": {"changes": [change]}}).content
    headers = {"content-type": "application/json", "x-liveperson-account-id": stack.config.account_id,
               "x-liveperson-client-id": stack.config.client_id,
               "x-liveperson-signature": Signing().header(stack.config.client_secret, body)}
    return body, headers


def test_12_and_15_broker_down_means_503_never_2xx_and_everything_resumes(chaos: tuple[KafkaBroker, Stack],
                                                                          sandboxes: Sandboxes) -> None:
    broker, stack = chaos
    during, after = f"down-{uuid.uuid4()}", f"up-{uuid.uuid4()}"
    broker.terminate()
    try:
        body, headers = signed_webhook(stack, during)
        refused = httpx.post(stack.config.webhook_url, content=body, headers=headers, timeout=30)
        assert refused.status_code == 503 and refused.headers["retry-after"]
    finally:
        broker.restart()
    body, headers = signed_webhook(stack, after)
    wait_until(lambda: httpx.post(stack.config.webhook_url, content=body, headers=headers, timeout=30).status_code
               == 200, timeout=RECOVERY_S, what="a 200 from the webhook bridge after the broker restart")
    keys = Counter(key for key, _ in read_topic(stack, LIVEENGAGE_EVENTS))
    assert keys[after] >= 1 and keys[during] <= 1
    # The worker resumed by itself (row 15): a consumer's text goes all the way through.
    consumer = f"+1666{uuid.uuid4().int % 10**7:07d}"
    wait_until(lambda: sandboxes.http.post(f"{stack.config.channel_url}/sandbox/consumers/{consumer}/messages",
                                           json={"text": "after the outage"}).json().get("bridge_status") == 202,
               timeout=RECOVERY_S, what="the channel bridge accepting again")
    wait_until(lambda: "after the outage" in sandboxes.effects(consumer), timeout=RECOVERY_S,
               what="the worker processing again")


def test_13_broker_sigkill_mid_burst_keeps_every_acknowledged_message_once(chaos: tuple[KafkaBroker, Stack],
                                                                          sandboxes: Sandboxes) -> None:
    broker, stack = chaos
    traffic = Traffic(stack, consumers=4, per_consumer=10).start()
    wait_for_some(sandboxes, traffic, 6)
    broker.kill()
    broker.restart()
    check_invariants(stack, sandboxes, traffic, repeats_per_conversation=1)


def test_24_dead_letter_topic_unwritable_means_exit_without_commit(chaos: tuple[KafkaBroker, Stack],
                                                                 sandboxes: Sandboxes) -> None:
    """A poison record while its dead-letter topic is missing: the worker must not ack it. It exits; once the
    restarted worker has created the topic again, it dead-letters the record and goes on."""
    import asyncio

    broker, stack = chaos
    dead_letters = CHANNEL_INBOUND.dead_letters.name
    consumer = f"+1666{uuid.uuid4().int % 10**7:07d}"
    key = f"{stack.config.channel_id}:{consumer}"
    poison = b"poison " + uuid.uuid4().bytes

    async def delete_dead_letters() -> bool:
        """Ask for the topic's deletion; True once the broker no longer lists it."""
        client = admin_client(KafkaConnection(kafka_bootstrap=broker.bootstrap))
        await client.start()
        try:
            if dead_letters in await client.list_topics():
                await client.delete_topics([dead_letters])
            return dead_letters not in await client.list_topics()
        finally:
            await client.close()

    wait_until(lambda: asyncio.run(delete_dead_letters()), timeout=RECOVERY_S, what="the dead-letter topic gone")
    produce_raw(broker.bootstrap, CHANNEL_INBOUND.name, key, poison)
    worker = stack.processes["worker"]
    assert worker.process is not None
    assert worker.process.wait(RECOVERY_S) == 70  # exited on purpose, without committing the poison
    # The restarted worker creates the missing catalogue topic itself, then handles the poison again.
    stack.start_worker()
    sandboxes.consumer_says(consumer, "after the poison")
    wait_until(lambda: "after the poison" in sandboxes.effects(consumer), timeout=RECOVERY_S, what="the next text")
    letters = wait_until(lambda: [d for k, d in read_topic(stack, CHANNEL_INBOUND.dead_letters) if k == key],
                         timeout=RECOVERY_S, what="the poison record in its dead-letter topic")
    # Once, or twice when a produce retry around the topic's creation wrote it again (the worker's producer
    # is not idempotent); never lost.
    assert {letter["value"] for letter in letters} == {poison} and len(letters) <= 2
