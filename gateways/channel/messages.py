"""The generic channel API's inbound body, and its translation to a ChannelInbound record.

``type`` says what the consumer did (default ``text``); each type requires its own field:
``text`` → ``text``; ``file`` → ``file {url, content_type, caption?}``; ``receipt`` → ``receipt {status:
delivered|read, message_ids}``; ``typing`` → ``typing {state}``; ``close`` → nothing; ``survey`` → ``survey
{csat: 1-5, fcr?}``. Unknown fields are ignored.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateways.errors import BadRequestError


class Profile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    first_name: str | None = Field(None, max_length=256)
    last_name: str | None = Field(None, max_length=256)
    email: str | None = Field(None, max_length=256)
    phone: str | None = Field(None, max_length=64)
    language: str | None = Field(None, max_length=35)
    customer_id: str | None = Field(None, max_length=256)
    customer_type: str | None = Field(None, max_length=256)


class SharedFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    content_type: Literal["image/jpeg", "image/jpg", "image/png", "image/gif"]
    caption: str | None = Field(None, max_length=128)


class Receipt(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["delivered", "read"]
    message_ids: list[str] = Field(min_length=1, max_length=100)


class Typing(BaseModel):
    model_config = ConfigDict(extra="ignore")
    state: Literal["composing", "paused", "active", "inactive", "gone"]


class Survey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    csat: int = Field(ge=1, le=5)
    fcr: bool | None = None


KINDS = {"text": "TEXT", "file": "FILE", "receipt": "RECEIPT", "typing": "CHAT_STATE", "close": "CLOSE",
         "survey": "SURVEY"}


class InboundMessage(BaseModel):
    """``{"message_id", "consumer_id", "timestamp" (epoch ms), "type"?, <the type's field>, "profile"?}``."""

    model_config = ConfigDict(extra="ignore")
    message_id: str = Field(min_length=1, max_length=128)
    consumer_id: str = Field(min_length=1, max_length=128)
    timestamp: int = Field(ge=0, description="epoch milliseconds when the consumer sent it")
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


def parse(body: dict[str, Any]) -> InboundMessage:
    try:
        return InboundMessage.model_validate(body)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(part) for part in error["loc"]) or "body", "problem": error["msg"]}
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise BadRequestError("body does not match the channel message schema", fields=fields) from exc


def to_record(channel_id: str, message: InboundMessage) -> dict[str, Any]:
    return {
        "event_id": message.message_id,
        "channel_id": channel_id,
        "consumer_id": message.consumer_id,
        "kind": KINDS[message.type],
        "text": message.text if message.type == "text" else None,
        "profile": message.profile.model_dump() if message.profile else None,
        "sent_at": message.timestamp,
        "received_at": datetime.now(timezone.utc),
        "file": message.file.model_dump() if message.type == "file" and message.file else None,
        "receipt_status": message.receipt.status if message.type == "receipt" and message.receipt else None,
        "receipt_message_ids": message.receipt.message_ids if message.type == "receipt" and message.receipt else [],
        "chat_state": message.typing.state if message.type == "typing" and message.typing else None,
        "csat_rate": message.survey.csat if message.type == "survey" and message.survey else None,
        "fcr": message.survey.fcr if message.type == "survey" and message.survey else None,
    }
