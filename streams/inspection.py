"""``python -m streams conversations show|list`` (``lec-conversations``): the state the worker holds about a
conversation, read from its tables' changelogs while the worker runs (README, "Operations").

A changelog holds every write of its table, compacted to the latest per key; reading a partition from its start to
its end and keeping the last value of each key (a tombstone removes it) gives what a recovering worker would hold.
The worker is not stopped or asked anything; what it wrote in the last moments may not be acknowledged yet.

Personal data is masked unless asked for (``--show-personal-data``): the consumer's id on the channel and at
LiveEngage, and queued texts, of which only the length is shown. The ConsumerJWS is never shown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiokafka import TopicPartition

from kafkaclients import KafkaConnection
from kafkaclients import clients as kafka
from schemas import topics as catalogue
from schemas.codec import DecodeError, codec
from streams import optout, topic_plan
from streams.retention import partition_of

STATE = codec("ConversationState")
ROUTE = codec("ConversationRoute")
COMMAND = codec("LiveEngageCommand")
LEDGER_SHOWN = 5
READ_TIMEOUT_S = 600.0  # a changelog of a million consumers is read in about a minute


@dataclass(frozen=True)
class Deployment:
    """Where the worker keeps its state: its app id (changelog names) and partition count (where a key lives)."""

    connection: KafkaConnection
    app_id: str
    partitions: int

    def changelog(self, table: str) -> str:
        return topic_plan.changelog_topic(self.app_id, table)


async def latest(deployment: Deployment, topic: str, partitions: Iterable[int], *, json_keys: bool = True,
                 wanted: str | None = None, keep: Callable[[str, bytes], Any] = lambda key, value: value,
                 ) -> dict[str, Any]:
    """``keep(key, value)`` of the last value of each key of ``topic``'s ``partitions`` (only ``wanted``'s, if
    given), tombstones applied; a key whose last ``keep`` is None is left out (``keep`` keeps what a caller needs
    of a record, not the record: a million of them must fit in a worker pod's memory). Changelog keys are JSON
    strings, as Faust writes them; source topics' keys are plain."""
    # From the earliest offset kept: retention may have deleted a delete-policy topic's first segments.
    consumer = kafka.consumer(deployment.connection, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, Any] = {}
    try:
        assigned = [TopicPartition(topic, partition) for partition in partitions]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if ends[tp] > 0}
        if remaining:
            await consumer.seek_to_beginning(*remaining)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {READ_TIMEOUT_S:.0f} s")
            for messages in (await consumer.getmany(*remaining, timeout_ms=1000)).values():
                for message in messages:
                    if message.key is None:
                        continue
                    key = json.loads(message.key) if json_keys else message.key.decode(errors="replace")
                    if wanted is None or key == wanted:
                        found[key] = None if message.value is None else keep(key, message.value)
            for tp in list(remaining):  # a partition may have nothing left to return
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return {key: value for key, value in found.items() if value is not None}
    finally:
        await consumer.stop()


def mask(value: str | None, personal: bool) -> str | None:
    """``value`` as is with ``personal``, else only its first two and last two characters."""
    if value is None or personal or len(value) <= 4:
        return value if value is None or personal else "•" * len(value)
    return value[:2] + "•" * (len(value) - 4) + value[-2:]


def masked_key(key: str, personal: bool) -> str:
    channel, _, consumer = key.partition(":")
    return f"{channel}:{mask(consumer, personal)}"


def queued(pending: list[bytes], personal: bool) -> list[dict[str, Any]]:
    """The commands waiting in a conversation's queue, oldest first: action, age, attempt, text (or its length)."""
    shown = []
    for raw in pending:
        try:
            command = COMMAND.decode(raw)
        except DecodeError:
            shown.append({"action": "?", "undecodable": True})
            continue
        text = command["text"]
        shown.append({"command_id": command["command_id"], "action": command["action"],
                      "created_at": command["created_at"], "attempt": command["attempt"],
                      **({"text": text} if personal else {"text_length": len(text) if text is not None else None})})
    return shown


def view(key: str, state: dict[str, Any], *, opted_out: bool, retry: dict[str, Any] | None,
         personal: bool) -> dict[str, Any]:
    """What ``show`` prints of one consumer's state. Pure."""
    return {
        "consumer": masked_key(key, personal), "account_id": state["account_id"], "status": state["status"],
        "conversation_id": state["conversation_id"], "dialog_id": state["dialog_id"],
        "last_conversation_id": state["last_conversation_id"], "skill_id": state["skill_id"],
        "agent_id": state["agent_id"], "lp_consumer_id": mask(state["lp_consumer_id"], personal),
        "consumer_jws": "held" if state["consumer_jws"] else None,
        "opened_at": state["opened_at"], "updated_at": state["updated_at"],
        "queued": queued(state["pending"], personal), "retrying": state["retrying"],
        "retry_due": None if retry is None else {"attempt": retry["attempt"], "due_at": retry["due_at"],
                                                 "action": retry["action"]},
        "ledger": state["ledger"][-LEDGER_SHOWN:], "ledger_size": len(state["ledger"]),
        "published": len(state["published"]),
        "routes": {id_: (None if closed == 0 else datetime.fromtimestamp(closed / 1000, timezone.utc))
                   for id_, closed in state["routes"].items()},
        "opted_out": opted_out,
    }


def render(shown: dict[str, Any], moment: datetime) -> str:
    """``view``'s dict as the lines an operator reads. Pure."""
    def when(value: datetime | None) -> str:
        return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S} ({(moment - value).total_seconds():.0f} s ago)"

    lines = [
        f"consumer          {shown['consumer']} (account {shown['account_id']})",
        f"status            {shown['status']}, last activity {when(shown['updated_at'])}",
        f"conversation      {shown['conversation_id'] or '-'}  dialog {shown['dialog_id'] or '-'}"
        f"  opened {when(shown['opened_at'])}",
        f"last conversation {shown['last_conversation_id'] or '-'}",
        f"skill, agent      {shown['skill_id'] or '-'}, {shown['agent_id'] or '-'}",
        f"LiveEngage id     {shown['lp_consumer_id'] or '-'}  ConsumerJWS {shown['consumer_jws'] or 'none'}",
        f"queued            {len(shown['queued'])}",
    ]
    for command in shown["queued"]:
        text = command.get("text", f"{command.get('text_length')} characters")
        lines.append(f"  {command['action']} {command.get('command_id', '')} attempt {command.get('attempt')}, "
                     f"created {when(command.get('created_at'))}: {text}")
    retry = shown["retry_due"]
    lines.append("retrying          " + ("no" if not shown["retrying"] else
                                        "yes" if retry is None or retry["due_at"] is None else
                                        f"yes: {retry['action']} attempt {retry['attempt']} due "
                                        f"{retry['due_at']:%Y-%m-%d %H:%M:%S}"))
    lines.append(f"ledger            last {len(shown['ledger'])} of {shown['ledger_size']}: "
                 f"{', '.join(shown['ledger']) or '-'}")
    lines.append(f"published         {shown['published']} messages of the open conversation")
    routes = ", ".join(f"{id_} ({'open' if closed is None else f'closed {closed:%Y-%m-%d %H:%M:%S}'})"
                       for id_, closed in shown["routes"].items())
    lines.append(f"routes            {routes or '-'}")
    lines.append(f"opted out         {'yes' if shown['opted_out'] else 'no'}")
    return "\n".join(lines)


async def consumer_of(deployment: Deployment, conversation_id: str) -> str | None:
    """The consumer key a LiveEngage conversation is routed to, from the routes table."""
    routes = await latest(deployment, deployment.changelog(catalogue.ROUTES_TABLE),
                          [partition_of(conversation_id, deployment.partitions)], wanted=conversation_id)
    if conversation_id not in routes:
        return None
    route = ROUTE.decode(routes[conversation_id])
    return None if route["forgotten"] else catalogue.consumer_key(route["channel_id"], route["consumer_id"])


async def show(deployment: Deployment, key: str, *, personal: bool) -> dict[str, Any] | None:
    """One consumer's state (``view``), or None if the worker holds none."""
    partition = [partition_of(key, deployment.partitions)]
    states = await latest(deployment, deployment.changelog(catalogue.CONVERSATIONS_TABLE), partition, wanted=key)
    if key not in states:
        return None
    state = STATE.decode(states[key])
    opt_outs = await latest(deployment, deployment.changelog(catalogue.OPT_OUTS_TABLE), partition, wanted=key)
    retry = None
    waiting = queued(state["pending"][:1], personal=False)
    if state["retrying"] and waiting and "command_id" in waiting[0]:
        retries = await latest(deployment, catalogue.LIVEENGAGE_RETRIES.name, partition, json_keys=False, wanted=key)
        try:
            scheduled = COMMAND.decode(retries[key]) if key in retries else None
        except DecodeError:
            scheduled = None
        retry = scheduled if scheduled is not None and scheduled["command_id"] == waiting[0]["command_id"] else None
    return view(key, state, opted_out=opt_outs.get(key) in (optout.OPTED_OUT, optout.AGENT_TOLD), retry=retry,
                personal=personal)


async def listing(deployment: Deployment, *, status: str | None, waiting_longer_than_s: float | None,
                  personal: bool, moment: datetime) -> list[dict[str, Any]]:
    """Every consumer the worker holds state for, filtered: by status, and by commands queued for longer than
    ``waiting_longer_than_s`` (measured from the oldest queued command's creation)."""
    def row(key: str, raw: bytes) -> dict[str, Any] | None:
        """The consumer's line, or None when the filters leave it out (decided on its latest state)."""
        state = STATE.decode(raw)
        if status is not None and state["status"] != status:
            return None
        commands = queued(state["pending"], personal=False)
        oldest = min((c["created_at"] for c in commands if c.get("created_at")), default=None)
        waiting_s = None if oldest is None else (moment - oldest).total_seconds()
        if waiting_longer_than_s is not None and (waiting_s is None or waiting_s <= waiting_longer_than_s):
            return None
        return {"consumer": masked_key(key, personal), "status": state["status"],
                "conversation_id": state["conversation_id"] or state["last_conversation_id"],
                "queued": len(commands), "retrying": state["retrying"], "waiting_s": waiting_s,
                "updated_at": state["updated_at"]}

    rows = await latest(deployment, deployment.changelog(catalogue.CONVERSATIONS_TABLE),
                        range(deployment.partitions), keep=row)
    return [rows[key] for key in sorted(rows)]


def render_list(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'consumer':<32} {'status':<8} {'conversation':<38} queued retrying waiting  last activity"]
    for row in rows:
        waiting = "-" if row["waiting_s"] is None else f"{row['waiting_s']:.0f} s"
        lines.append(f"{row['consumer']:<32} {row['status']:<8} {row['conversation_id'] or '-':<38} "
                     f"{row['queued']:>6} {'yes' if row['retrying'] else 'no':>8} {waiting:>7}  "
                     f"{row['updated_at']:%Y-%m-%d %H:%M:%S}")
    lines.append(f"{len(rows)} consumers")
    return "\n".join(lines)
