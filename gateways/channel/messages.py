"""The generic channel API's inbound message body, and its translation to a ChannelInbound record."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class InboundMessage(BaseModel):
    """``{"message_id", "consumer_id", "text", "timestamp" (epoch ms), "profile"?}``; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    message_id: str = Field(min_length=1, max_length=128)
    consumer_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=4000)
    timestamp: int = Field(ge=0, description="epoch milliseconds when the consumer sent it")
    profile: Profile | None = None


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
        "kind": "TEXT",
        "text": message.text,
        "profile": message.profile.model_dump() if message.profile else None,
        "sent_at": message.timestamp,
        "received_at": datetime.now(timezone.utc),
    }
