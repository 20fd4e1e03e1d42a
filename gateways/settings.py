"""The bridges' settings, read from LEC_* environment variables once at start-up.

``LEC_CHANNELS`` and ``LEC_LIVEENGAGE_ACCOUNTS`` are JSON maps shared with the worker; each process reads only
the fields it needs and ignores the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from adapters import BoundChannel
from kafkaclients import KafkaConnection
from schemas.registry import RegistrySettings
from telemetry.logs import LogFormat


class ChannelGateway(BoundChannel):
    """One channel's gateway as the bridge sees it: its adapter (``generic`` unless named) and that adapter's
    settings, such as the secret the gateway signs with."""

    rate: float | None = Field(default=None, gt=0, description="this channel's requests per second (a tenant's "
                                                              "own limit); LEC_CHANNEL_RATE when unset")
    burst: float | None = Field(default=None, ge=1, description="its burst; LEC_CHANNEL_BURST when unset")


class LiveEngageApp(BaseModel):
    """The app installation (client id and secret) of one LiveEngage account."""

    model_config = ConfigDict(extra="ignore")
    client_id: str
    client_secret: SecretStr
    previous_client_secret: SecretStr | None = Field(default=None, description="during a rotation, the secret "
                                                     "being replaced: webhooks it signs are accepted too")

    def all_secrets(self) -> list[str]:
        return [secret.get_secret_value() for secret in (self.client_secret, self.previous_client_secret) if secret]


class BridgeSettings(KafkaConnection, RegistrySettings):
    produce_timeout_s: float = Field(5.0, gt=0, description="longest wait for Kafka's acknowledgement before 503")
    max_body_bytes: int = Field(64 * 1024, gt=0)
    body_timeout_s: float = Field(default=10.0, gt=0, description="a body not received by then gets 408")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: LogFormat = Field("text", description="text, or json: one object per line for a log pipeline")
    log_pii: bool = Field(default=False, description="let phone numbers into logs (debugging only)")


class ChannelBridgeSettings(BridgeSettings):
    channels: dict[str, ChannelGateway]
    channel_bridge_public_url: str | None = Field(default=None, description="this bridge's URL as gateways call "
                                                  "it (behind a proxy or ingress); signatures cover it")

    def secrets(self) -> list[str]:
        return [secret for channel in self.channels.values() for secret in channel.binding.secrets()] + \
            self.kafka_secrets() + self.registry_secrets()
    # Per bridge process: requests per second and burst, per channel and per consumer (number).
    channel_rate: float = Field(default=200.0, gt=0)
    channel_burst: float = Field(default=400.0, ge=1)
    consumer_rate: float = Field(default=5.0, gt=0)
    consumer_burst: float = Field(default=20.0, ge=1)


class WebhookBridgeSettings(BridgeSettings):
    liveengage_accounts: dict[str, LiveEngageApp]
    # LiveEngage expects an answer within 2.5 s and may disable an app that is slower for two minutes
    # (Connector API Webhooks/notification-protocol.md, disclaimers.md): a fast 503 is better than a late 200.
    produce_timeout_s: float = Field(2.0, gt=0, le=2.5, description="longest wait for Kafka's acknowledgement "
                                     "before 503; LiveEngage wants an answer within 2.5 s")

    def secrets(self) -> list[str]:
        return [secret for app in self.liveengage_accounts.values() for secret in app.all_secrets()] + \
            self.kafka_secrets() + self.registry_secrets()
    account_rate: float = Field(default=500.0, gt=0, description="webhook requests per second per account")
    account_burst: float = Field(default=1000.0, ge=1)
    # LiveEngage signs with Base64 by default; some accounts are switched to hex on request.
    webhook_signature_encodings: frozenset[str] = frozenset({"base64"})

