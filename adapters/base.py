"""What a channel adapter is: the translation between one channel gateway's formats and the connector's records.

An adapter is pure: it verifies and parses the requests a gateway sends (the channel bridge does the HTTP and
Kafka parts) and builds the requests that deliver a message to the gateway (the worker sends them). It holds no
state and does no I/O, so both sides can use it and tests can check it on bytes alone.

Inbound events are ChannelInbound records without ``channel_id`` and ``received_at`` (the bridge adds them).
Outbound messages are ChannelOutbound records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

MESSAGES_HOOK = "messages"  # what consumers send
STATUS_HOOK = "status"  # delivery statuses of the connector's outbound messages


class InputError(Exception):
    """A gateway request that does not parse; ``fields`` name each problem (never the payload)."""

    def __init__(self, detail: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []

    @classmethod
    def from_validation(cls, detail: str, exc: ValidationError) -> InputError:
        fields = [{"field": ".".join(str(part) for part in error["loc"]) or "body", "problem": error["msg"]}
                  for error in exc.errors(include_input=False, include_url=False)]
        return cls(detail, fields)


@dataclass(frozen=True)
class Capabilities:
    """What the channel can show besides text, and how long one message may be."""

    media: bool = False
    receipts: bool = False  # the agent's delivered/read ticks on the consumer's messages
    typing: bool = False
    max_text_chars: int | None = None  # longer texts are split into several messages
    opt_out_keywords: bool = False  # STOP/START texts opt the consumer out of and back into messages (SMS)


@dataclass(frozen=True)
class InboundRequest:
    """One request from a gateway, as the gateway made it: ``url`` is the public URL it called."""

    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_ms: int  # when the bridge received it: the sent_at of gateways that give no time
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """What the bridge answers a gateway once the events are in Kafka."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class OutboundCall:
    """One HTTP request to the gateway. ``form`` is sent url-encoded, ``json`` as JSON."""

    url: str
    headers: dict[str, str]
    form: list[tuple[str, str]] | None = None
    json: dict[str, Any] | None = None


class AdapterConfig(BaseModel):
    """A channel's adapter-specific settings, read from its entry in LEC_CHANNELS."""

    model_config = ConfigDict(extra="ignore")


ConfigT = TypeVar("ConfigT", bound=AdapterConfig)


class ChannelAdapter(ABC, Generic[ConfigT]):
    name: ClassVar[str]
    config_model: type[ConfigT]
    content_type: ClassVar[str]  # what the gateway posts
    hooks: ClassVar[tuple[str, ...]] = (MESSAGES_HOOK,)

    def config(self, channel: dict[str, Any]) -> ConfigT:
        """Validate a channel's settings; raises ``ValueError`` naming what is missing."""
        return self.config_model.model_validate(channel)

    @abstractmethod
    def capabilities(self, config: ConfigT) -> Capabilities: ...

    @abstractmethod
    def verify(self, config: ConfigT, request: InboundRequest) -> bool:
        """True when the request is signed by the channel's gateway; never raises."""

    def rotated_out(self, config: ConfigT) -> ConfigT | None:
        """During a secret rotation, the channel's settings with the secret being replaced in place of the current
        one (so ``verify`` checks that one); None when no rotation is under way."""
        return None

    def signed_with(self, config: ConfigT, request: InboundRequest) -> str | None:
        """Which of the channel's secrets signed the request: "current", "previous" (a rotation's old secret,
        accepted until it is removed from the settings), or None (not signed by the gateway); never raises."""
        if self.verify(config, request):
            return "current"
        previous = self.rotated_out(config)
        return "previous" if previous is not None and self.verify(previous, request) else None

    @abstractmethod
    def parse(self, config: ConfigT, hook: str, request: InboundRequest) -> list[dict[str, Any]]:
        """The events of a verified request, in order; raises ``InputError``."""

    @abstractmethod
    def answer(self, hook: str, events: list[dict[str, Any]]) -> Answer:
        """The success answer once ``events`` are in Kafka."""

    @abstractmethod
    def outbound(self, config: ConfigT, message: dict[str, Any], status_url: str | None) -> list[OutboundCall]:
        """The calls that deliver one ChannelOutbound record (none for what the channel cannot show).
        ``status_url`` is where the gateway should report this message's delivery status, if it can."""

    @abstractmethod
    def file_headers(self, config: ConfigT) -> dict[str, str]:
        """Headers that let the connector download a file a consumer shared through the gateway."""

    def refused_as_opted_out(self, status: int, body: bytes) -> bool:
        """True when the gateway refused a send because the consumer opted out at the gateway."""
        return False


def inbound_event(event_id: str, consumer_id: str, kind: str, sent_at: int, **fields: Any) -> dict[str, Any]:
    """A ChannelInbound record without channel_id and received_at; unset fields take their defaults."""
    return {"event_id": event_id, "consumer_id": consumer_id, "kind": kind, "text": None, "profile": None,
            "sent_at": sent_at, "file": None, "receipt_status": None, "receipt_message_ids": [],
            "chat_state": None, "csat_rate": None, "fcr": None, "attributes": {}} | fields
