"""Dead letters for ``python -m streams dead-letters list|replay`` and the console: inspect them, replay them.

``list`` prints each dead letter's context (source topic, partition, offset, error class, reason, attempts,
time) without its key or value, which may hold personal data. ``replay --source TOPIC`` produces every dead
letter of that source not replayed before back to the source topic, with its original key and bytes, and
remembers how far it got (consumer group ``<app id>-dead-letter-replay``), so running it twice replays nothing
twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import topics as catalogue
from schemas.codec import codec

DEAD_LETTER = codec("DeadLetter")


def source_spec(name: str) -> catalogue.TopicSpec:
    for spec in catalogue.SOURCES:
        if spec.name == name:
            return spec
    raise ValueError(f"{name} is not a source topic; one of {', '.join(s.name for s in catalogue.SOURCES)}")


@dataclass(frozen=True)
class Found:
    """What one read of dead-letter topics found: their records, where they end, and how far the group got."""

    records: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]]
    ends: dict[TopicPartition, int]
    committed: dict[TopicPartition, int]


async def _read(connection: KafkaConnection, topics: list[str], partitions: int, group: str, *,
                after_committed: bool) -> Found:
    """The records of ``topics`` from the start, or only those after ``group``'s committed offsets; assigning the
    partitions by hand reads the group's offsets without joining it."""
    consumer = kafka.consumer(connection, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        committed = {tp: await consumer.committed(tp) or 0 for tp in assigned}
        records: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]] = []
        remaining = set()
        for tp in assigned:
            begin = committed[tp] if after_committed else 0
            if begin < ends[tp]:
                consumer.seek(tp, begin)
                remaining.add(tp)
        while remaining:
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                records += [(tp, message) for message in messages]
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        # In the catalogue's order of topics, then by partition and offset.
        records.sort(key=lambda found: (assigned.index(found[0]), found[1].offset))
        return Found(records, ends, committed)
    finally:
        await consumer.stop()


def replay_group(app_id: str) -> str:
    return f"{app_id}-dead-letter-replay"


async def read_letters(connection: KafkaConnection, partitions: int, app_id: str, source: str | None = None,
                       ) -> list[dict[str, Any]]:
    """Every dead letter (of one source, or of all) with its headers and whether ``replay`` has sent it back;
    without its key and value, which may hold personal data. One reader for all the dead-letter topics."""
    topics = [spec.dead_letters.name for spec in ([source_spec(source)] if source else catalogue.SOURCES)]
    found = await _read(connection, topics, partitions, replay_group(app_id), after_committed=False)
    letters = []
    for tp, message in found.records:
        letter = DEAD_LETTER.decode(message.value)
        letters.append({**{k: v for k, v in letter.items() if k not in ("key", "value")},
                        "headers": {name: value.decode(errors="replace") for name, value in message.headers or ()},
                        "dead_letter_topic": tp.topic, "dead_letter_partition": tp.partition,
                        "dead_letter_offset": message.offset, "replayed": message.offset < found.committed[tp]})
    return letters


def describe(letters: Iterable[dict[str, Any]]) -> str:
    rows = [f"{d['source_topic']}[{d['partition']}]@{d['offset']}  {d['error_class']}  attempts={d['attempts']}  "
            f"{d['failed_at']:%Y-%m-%d %H:%M:%S}  {d['reason']}" for d in letters]
    return "\n".join(rows) or "no dead letters"


async def list_letters(connection: KafkaConnection, partitions: int, app_id: str, source: str | None) -> str:
    return describe(await read_letters(connection, partitions, app_id, source))


async def replay(connection: KafkaConnection, partitions: int, source: str, app_id: str) -> int:
    """Replay the not yet replayed dead letters of ``source``; return how many."""
    spec = source_spec(source)
    group = replay_group(app_id)
    found = await _read(connection, [spec.dead_letters.name], partitions, group, after_committed=True)
    producer = kafka.producer(connection, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for _, message in found.records:
            letter = DEAD_LETTER.decode(message.value)
            await producer.send_and_wait(source, key=letter["key"], value=letter["value"])
    finally:
        await producer.stop()
    committer = kafka.consumer(connection, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign(list(found.ends))
        await committer.commit({tp: OffsetAndMetadata(end, "") for tp, end in found.ends.items()})
    finally:
        await committer.stop()
    return len(found.records)
