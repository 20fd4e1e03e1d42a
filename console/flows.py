"""The flow pane's model: each event's path through the connector, pieced together from the records on its topics.

A consumer message: channel bridge → ``lec.channel.inbound`` → worker → ``lec.liveengage.commands`` → LiveEngage
accepted. An agent message: webhook bridge → ``lec.liveengage.events`` → worker → ``lec.channel.outbound`` →
channel gateway accepted. The last hop of each comes from the worker's ``lec.analytics.events`` record, written
once the far side accepted (so only when ``LEC_ANALYTICS_KEY`` is set); a dead letter ends a path where it failed.

Records are matched by the ids the worker carries along: a command's ``command_id`` is its inbound event's
``event_id``; an outbound message's ``message_id`` is ``<dialog_id>:<sequence>`` of its LiveEngage event (or
``<event_id>:<suffix>`` for typing); analytics records carry the command or message id. Every hop has its topic,
partition and offset and its time since the bridge received the event.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from schemas import topics as catalogue

DEAD_LETTER_TOPICS = {spec.dead_letters.name for spec in catalogue.SOURCES}
NOTIFICATIONS = {"cqm.ExConversationChangeNotification": "conversation change"}


@dataclass
class Hop:
    stage: str
    at_ms: int
    latency_ms: int
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass
class Flow:
    id: str
    direction: str  # "consumer → agent" or "agent → consumer"
    kind: str
    channel_id: str | None
    consumer_id: str | None
    conversation_id: str | None
    started_ms: int
    hops: list[Hop] = field(default_factory=list)
    failed: str | None = None  # the error class that dead-lettered it

    def add(self, stage: str, at_ms: int, topic: str | None = None, partition: int | None = None,
            offset: int | None = None) -> None:
        self.hops.append(Hop(stage, at_ms, max(at_ms - self.started_ms, 0), topic, partition, offset))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def millis(value: Any, fallback: int) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value) if isinstance(value, int) else fallback


class FlowBook:
    """The latest ``keep`` flows, updated one record at a time (``add`` returns the flow it changed, if any)."""

    def __init__(self, keep: int = 300) -> None:
        self._keep = keep
        self._flows: OrderedDict[str, Flow] = OrderedDict()
        self._aliases: dict[str, str] = {}  # another id of a flow (an outbound message id) → the flow's id
        self._positions: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) of a hop → flow id

    def flows(self) -> list[Flow]:
        return list(self._flows.values())

    def add(self, topic: str, partition: int, offset: int, timestamp_ms: int, record: dict[str, Any]) -> Flow | None:
        handle = {
            catalogue.CHANNEL_INBOUND.name: self._inbound,
            catalogue.LIVEENGAGE_COMMANDS.name: self._command,
            catalogue.LIVEENGAGE_RETRIES.name: self._retry,
            catalogue.LIVEENGAGE_EVENTS.name: self._agent_event,
            catalogue.CHANNEL_OUTBOUND.name: self._outbound,
            catalogue.ANALYTICS_EVENTS.name: self._accepted,
        }.get(topic)
        if handle is not None:
            flow = handle(record, timestamp_ms, (topic, partition, offset))
        elif topic in DEAD_LETTER_TOPICS:
            flow = self._dead_letter(record, timestamp_ms, (topic, partition, offset))
        else:
            flow = None
        return flow

    def _find(self, *ids: str) -> Flow | None:
        for some_id in ids:
            flow = self._flows.get(self._aliases.get(some_id, some_id))
            if flow is not None:
                return flow
        return None

    def _start(self, flow: Flow) -> Flow:
        self._flows[flow.id] = flow
        while len(self._flows) > self._keep:
            self._flows.popitem(last=False)
        return flow

    def _hop(self, flow: Flow, stage: str, at_ms: int, where: tuple[str, int, int]) -> Flow:
        flow.add(stage, at_ms, *where)
        self._positions[where] = flow.id
        if len(self._positions) > self._keep * 10:  # forget the oldest positions with their flows
            for old in list(self._positions)[: self._keep]:
                del self._positions[old]
        return flow

    def _inbound(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow:
        received = millis(record.get("received_at"), timestamp_ms)
        flow = self._find(record["event_id"]) or self._start(Flow(
            record["event_id"], "consumer → agent", str(record.get("kind", "")).lower(), record.get("channel_id"),
            record.get("consumer_id"), None, received))
        return self._hop(flow, "channel bridge", received, where)

    def _command(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow:
        flow = self._find(record["command_id"]) or self._start(Flow(
            record["command_id"], "worker → LiveEngage", str(record.get("action", "")).lower(),
            record.get("channel_id"), record.get("consumer_id"), None, timestamp_ms))
        return self._hop(flow, f"worker: {str(record.get('action', '')).lower()}", timestamp_ms, where)

    def _retry(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow | None:
        flow = self._find(record["command_id"])
        return None if flow is None else self._hop(flow, f"retry {record.get('attempt')} scheduled", timestamp_ms,
                                                   where)

    def _agent_event(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow:
        received = millis(record.get("received_at"), timestamp_ms)
        kind = record.get("event_type") or NOTIFICATIONS.get(record.get("notification_type", ""),
                                                             record.get("notification_type"))
        flow = self._find(record["event_id"]) or self._start(Flow(
            record["event_id"], "agent → consumer", str(kind), None, None, record.get("conversation_id"), received))
        if record.get("sequence") is not None:
            self._aliases[f"{record.get('dialog_id')}:{record['sequence']}"] = flow.id
        return self._hop(flow, "webhook bridge", received, where)

    def _outbound(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow | None:
        message_id = record["message_id"]
        flow = self._find(message_id, message_id.rsplit(":", 1)[0])
        if flow is None:
            return None
        flow.channel_id, flow.consumer_id = record.get("channel_id"), record.get("consumer_id")
        self._aliases[message_id] = flow.id
        # The record's time, not its created_at: that one can be the agent's own time at LiveEngage.
        return self._hop(flow, f"worker: {str(record.get('kind', '')).lower()} to the channel", timestamp_ms, where)

    def _accepted(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow | None:
        stage = {"CONSUMER_MESSAGE": "LiveEngage accepted", "AGENT_MESSAGE": "channel gateway accepted"}.get(
            record.get("kind", ""))
        flow = self._find(record["event_id"]) if stage else None
        if flow is None or stage is None:
            return None
        flow.conversation_id = flow.conversation_id or record.get("conversation_id")
        return self._hop(flow, stage, millis(record.get("occurred_at"), timestamp_ms), where)

    def _dead_letter(self, record: dict[str, Any], timestamp_ms: int, where: tuple[str, int, int]) -> Flow | None:
        source = (record["source_topic"], record["partition"], record["offset"])
        flow_id = self._positions.get(source)
        flow = self._flows.get(flow_id) if flow_id else None
        if flow is None:  # a record no flow holds (one that never decoded): a path of its own
            flow = self._start(Flow(f"{source[0]}[{source[1]}]@{source[2]}", "dead letter", source[0], None, None,
                                    None, timestamp_ms))
        flow.failed = record.get("error_class")
        return self._hop(flow, f"dead-lettered: {record.get('error_class')}", millis(record.get("failed_at"),
                                                                                       timestamp_ms), where)
