"""The bridges' settings, read from LEC_* environment variables once at start-up.

``LEC_CHANNELS`` and ``LEC_LIVEENGAGE_ACCOUNTS`` are JSON maps shared with the worker; each process reads only
the fields it needs and ignores the rest.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelAuth(BaseModel):
    """How the channel bridge authenticates one channel gateway."""

    model_config = ConfigDict(extra="ignore")
    secret: SecretStr = Field(description="HMAC-SHA256 key the gateway signs inbound bodies with")


class LiveEngageApp(BaseModel):
    """The app installation (client id and secret) of one LiveEngage account."""

    model_config = ConfigDict(extra="ignore")
    client_id: str
    client_secret: SecretStr


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEC_", extra="ignore", env_parse_none_str="null")

    kafka_bootstrap: str = "127.0.0.1:9092"
    produce_timeout_s: float = Field(5.0, gt=0, description="longest wait for Kafka's acknowledgement before 503")
    max_body_bytes: int = Field(64 * 1024, gt=0)


class ChannelBridgeSettings(BridgeSettings):
    channels: dict[str, ChannelAuth]


class WebhookBridgeSettings(BridgeSettings):
    liveengage_accounts: dict[str, LiveEngageApp]
    # LiveEngage signs with Base64 by default; some accounts are switched to hex on request.
    webhook_signature_encodings: frozenset[str] = frozenset({"base64"})
