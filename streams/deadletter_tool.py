"""``python -m streams dead-letters list|replay``: inspect dead letters, and replay them after a fix.

``list`` prints each dead letter's context (source topic, partition, offset, error class, reason, attempts,
time) without its key or value, which may hold personal data. ``replay --source TOPIC`` produces every dead
letter of that source not replayed before back to the source topic, with its original key and bytes, and
remembers how far it got (consumer group ``<app id>-dead-letter-replay``), so running it twice replays nothing
twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from schemas import topics as catalogue
from schemas.codec import codec

DEAD_LETTER = codec("DeadLetter")


def source_spec(name: str) -> catalogue.TopicSpec:
    for spec in catalogue.SOURCES:
        if spec.name == name:
            return spec
    raise ValueError(f"{name} is not a source topic; one of {', '.join(s.name for s in catalogue.SOURCES)}")


async def _read(bootstrap: str, topic: str, partitions: int, group: str | None,
                ) -> tuple[list[tuple[TopicPartition, int, dict[str, Any]]], dict[TopicPartition, int]]:
    """Every record of ``topic`` after ``group``'s committed offsets (from the start without a group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[tuple[TopicPartition, int, dict[str, Any]]] = []
        for tp in assigned:
            committed = await consumer.committed(tp) if group else None
            consumer.seek(tp, committed or 0)
            while await consumer.position(tp) < ends[tp]:
                for message in (await consumer.getmany(tp, timeout_ms=2000)).get(tp, []):
                    found.append((tp, message.offset, DEAD_LETTER.decode(message.value)))
        return found, ends
    finally:
        await consumer.stop()


def replay_group(app_id: str) -> str:
    return f"{app_id}-dead-letter-replay"


async def read_letters(bootstrap: str, partitions: int, app_id: str, source: str | None = None,
                       ) -> list[dict[str, Any]]:
    """Every dead letter (of one source, or of all) with its headers and whether ``replay`` has sent it back;
    without its key and value, which may hold personal data. One reader for all the dead-letter topics."""
    specs = [source_spec(source)] if source else list(catalogue.SOURCES)
    assigned = [TopicPartition(spec.dead_letters.name, p) for spec in specs for p in range(partitions)]
    # The replay group's offsets say what was replayed; assigning partitions by hand does not join the group.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=replay_group(app_id), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if ends[tp] > 0}
        reached = {tp: await consumer.committed(tp) or 0 for tp in remaining}
        for tp in remaining:
            consumer.seek(tp, 0)
        letters: list[dict[str, Any]] = []
        while remaining:
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                for message in messages:
                    letter = DEAD_LETTER.decode(message.value)
                    letters.append({**{k: v for k, v in letter.items() if k not in ("key", "value")},
                                    "failed_at": letter["failed_at"].isoformat(),
                                    "headers": {name: value.decode(errors="replace")
                                                for name, value in message.headers or ()},
                                    "dead_letter_topic": tp.topic, "dead_letter_partition": tp.partition,
                                    "dead_letter_offset": message.offset, "replayed": message.offset < reached[tp]})
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(letters, key=lambda d: (d["dead_letter_topic"], d["dead_letter_partition"],
                                              d["dead_letter_offset"]))
    finally:
        await consumer.stop()


def describe(letters: Iterable[dict[str, Any]]) -> str:
    rows = [f"{d['source_topic']}[{d['partition']}]@{d['offset']}  {d['error_class']}  attempts={d['attempts']}  "
            f"{d['failed_at']:%Y-%m-%d %H:%M:%S}  {d['reason']}" for d in letters]
    return "\n".join(rows) or "no dead letters"


async def list_letters(bootstrap: str, partitions: int, source: str | None) -> str:
    specs = [source_spec(source)] if source else list(catalogue.SOURCES)
    letters = []
    for spec in specs:
        found, _ = await _read(bootstrap, spec.dead_letters.name, partitions, None)
        letters += [letter for _, _, letter in found]
    return describe(letters)


async def replay(bootstrap: str, partitions: int, source: str, app_id: str) -> int:
    """Replay the not yet replayed dead letters of ``source``; return how many."""
    spec = source_spec(source)
    group = replay_group(app_id)
    found, ends = await _read(bootstrap, spec.dead_letters.name, partitions, group)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for _, _, letter in found:
            await producer.send_and_wait(source, key=letter["key"], value=letter["value"])
    finally:
        await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign(list(ends))
        await committer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
    finally:
        await committer.stop()
    return len(found)
