"""The generic channel API: the JSON contract for a brand's own SMS gateway or app (docs/generic-channel-api.yaml).

Inbound, the gateway POSTs JSON to ``/v1/channels/{channel_id}/messages`` signed with
``X-Channel-Signature: sha256=<hex HMAC-SHA256 of the raw body under the channel's secret>``. ``type`` says
what the consumer did (default ``text``); each type requires its own field: ``text`` → ``text``; ``file`` →
``file {url, content_type, caption?}``; ``receipt`` → ``receipt {status: delivered|read|failed, message_ids}``
(the consumer got, read, or could not be sent, the connector's messages); ``typing`` → ``typing {state}``;
``close`` → nothing; ``survey`` → ``survey {csat: 1-5, fcr?}``. Unknown fields are ignored.

Outbound, the connector POSTs JSON to the channel's ``outbound_url`` with ``Authorization: Bearer
<outbound_token>``: ``{message_id, consumer_id, conversation_id, type: text|notice|receipt|typing, ...}``. The
gateway deduplicates on ``message_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator

from adapters.base import (AdapterConfig, Answer, Capabilities, ChannelAdapter, InboundRequest,
                           InputError, OutboundCall, inbound_event)

SIGNATURE_HEADER = "x-channel-signature"


class GenericCapabilities(BaseModel):
    model_config = ConfigDict(extra="ignore")
    receipts: bool = Field(default=False, description="delivered/read ticks for the consumer's messages")
    typing: bool = Field(default=False, description="an 'agent is typing' indicator")
    opt_out_keywords: bool = Field(default=False, description="STOP/START texts opt out of and back into messages")


class GenericConfig(AdapterConfig):
    secret: SecretStr = Field(description="HMAC-SHA256 key the gateway signs inbound bodies with")
    previous_secret: SecretStr | None = Field(default=None, description="during a rotation, the secret being "
                                              "replaced: accepted too until removed (README, \"Secret rotation\")")
    outbound_url: str = Field(description="the gateway's URL for messages to consumers")
    outbound_token: SecretStr = Field(description="bearer token the gateway expects on outbound messages")
    capabilities: GenericCapabilities = GenericCapabilities()


# Inbound models are strict: a value of the wrong JSON type is refused, not coerced ("5" is no CSAT), as the
# OpenAPI contract (docs/generic-channel-api.yaml) says.
STRICT = ConfigDict(extra="ignore", strict=True)


def integral(value: Any) -> Any:
    """JSON has one number type: 5.0 is the integer 5 (JSON Schema agrees), while "5" and true are not numbers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(integral)]


class Profile(BaseModel):
    model_config = STRICT
    first_name: str | None = Field(None, max_length=256)
    last_name: str | None = Field(None, max_length=256)
    email: str | None = Field(None, max_length=256)
    phone: str | None = Field(None, max_length=64)
    language: str | None = Field(None, max_length=35)
    customer_id: str | None = Field(None, max_length=256)
    customer_type: str | None = Field(None, max_length=256)


class SharedFile(BaseModel):
    model_config = STRICT
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    content_type: Literal["image/jpeg", "image/jpg", "image/png", "image/gif"]
    caption: str | None = Field(None, max_length=128)


class Receipt(BaseModel):
    model_config = STRICT
    status: Literal["delivered", "read", "failed"]
    message_ids: list[str] = Field(min_length=1, max_length=100)


class Typing(BaseModel):
    model_config = STRICT
    state: Literal["composing", "paused", "active", "inactive", "gone"]


class Survey(BaseModel):
    model_config = STRICT
    csat: JsonInt = Field(ge=1, le=5)
    fcr: bool | None = None


KINDS = {"text": "TEXT", "file": "FILE", "receipt": "RECEIPT", "typing": "CHAT_STATE", "close": "CLOSE",
         "survey": "SURVEY"}


class InboundMessage(BaseModel):
    """``{"message_id", "consumer_id", "timestamp" (epoch ms), "type"?, <the type's field>, "profile"?}``."""

    model_config = STRICT
    message_id: str = Field(min_length=1, max_length=128)
    consumer_id: str = Field(min_length=1, max_length=128)
    timestamp: JsonInt = Field(ge=0, description="epoch milliseconds when the consumer sent it")
    type: Literal["text", "file", "receipt", "typing", "close", "survey"] = "text"
    text: str | None = Field(None, min_length=1, max_length=4000)
    file: SharedFile | None = None
    receipt: Receipt | None = None
    typing: Typing | None = None
    survey: Survey | None = None
    profile: Profile | None = None

    @model_validator(mode="after")
    def _has_its_field(self) -> InboundMessage:
        needed = {"text": self.text, "file": self.file, "receipt": self.receipt, "typing": self.typing,
                  "survey": self.survey}
        if self.type in needed and needed[self.type] is None:
            raise ValueError(f"type {self.type} needs the field {self.type!r}")
        return self


def verify_signature(raw_body: bytes, header_value: str | None, secret: str) -> bool:
    """True when ``header_value`` is the HMAC-SHA256 of exactly ``raw_body`` under ``secret``; never raises."""
    if not header_value:
        return False
    algorithm, _, received = header_value.partition("=")
    if algorithm.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.strip().lower().encode(), expected.encode())


def parse_message(body: Any) -> InboundMessage:
    try:
        return InboundMessage.model_validate(body)
    except ValidationError as exc:
        raise InputError.from_validation("body does not match the channel message schema", exc) from exc


def to_event(message: InboundMessage) -> dict[str, Any]:
    kind = message.type
    return inbound_event(
        message.message_id, message.consumer_id, KINDS[kind], message.timestamp,
        text=message.text if kind == "text" else None,
        profile=message.profile.model_dump() if message.profile else None,
        file=message.file.model_dump() if kind == "file" and message.file else None,
        receipt_status=message.receipt.status if kind == "receipt" and message.receipt else None,
        receipt_message_ids=message.receipt.message_ids if kind == "receipt" and message.receipt else [],
        chat_state=message.typing.state if kind == "typing" and message.typing else None,
        csat_rate=message.survey.csat if kind == "survey" and message.survey else None,
        fcr=message.survey.fcr if kind == "survey" and message.survey else None,
    )


def outbound_body(message: dict[str, Any]) -> dict[str, Any]:
    """The outbound JSON for one ChannelOutbound record (only the fields its kind uses)."""
    body: dict[str, Any] = {
        "message_id": message["message_id"],
        "consumer_id": message["consumer_id"],
        "conversation_id": message["conversation_id"],
        "type": message["kind"].lower(),
    }
    kind = message["kind"]
    if kind in ("TEXT", "NOTICE"):
        body["text"] = message["text"]
    if kind == "TEXT" and message["choices"]:
        body["choices"] = message["choices"]
    if kind == "NOTICE":
        body["notice"] = message["notice"]
    if kind == "RECEIPT":
        body["receipt"] = {"status": message["receipt_status"], "message_ids": message["receipt_message_ids"]}
    if kind == "TYPING":
        body["typing"] = bool(message["typing"])
    if kind == "FILE":
        body["file"] = {"url": message["file_url"], "content_type": message["file_type"], "caption": message["text"]}
    return body


class GenericAdapter(ChannelAdapter[GenericConfig]):
    name = "generic"
    config_model = GenericConfig
    content_type = "application/json"

    def capabilities(self, config: GenericConfig) -> Capabilities:
        return Capabilities(media=True, receipts=config.capabilities.receipts, typing=config.capabilities.typing,
                            opt_out_keywords=config.capabilities.opt_out_keywords)

    def verify(self, config: GenericConfig, request: InboundRequest) -> bool:
        return verify_signature(request.body, request.headers.get(SIGNATURE_HEADER),
                                config.secret.get_secret_value())

    def rotated_out(self, config: GenericConfig) -> GenericConfig | None:
        if config.previous_secret is None:
            return None
        return config.model_copy(update={"secret": config.previous_secret, "previous_secret": None})

    def parse(self, config: GenericConfig, hook: str, request: InboundRequest) -> list[dict[str, Any]]:
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"body is not valid JSON: {exc.__class__.__name__}") from exc
        if not isinstance(body, dict):
            raise InputError("body must be a JSON object")
        return [to_event(parse_message(body))]

    def answer(self, hook: str, events: list[dict[str, Any]]) -> Answer:
        body = {"status": "accepted", "message_id": events[0]["event_id"] if events else None}
        return Answer(202, "application/json", json.dumps(body).encode())

    def outbound(self, config: GenericConfig, message: dict[str, Any], status_url: str | None) -> list[OutboundCall]:
        return [OutboundCall(config.outbound_url, self.file_headers(config), json=outbound_body(message))]

    def file_headers(self, config: GenericConfig) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.outbound_token.get_secret_value()}"}


ADAPTER = GenericAdapter()
