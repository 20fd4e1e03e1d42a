"""The worker's settings, read from LEC_* environment variables once at start-up.

``LEC_CHANNELS`` and ``LEC_LIVEENGAGE_ACCOUNTS`` are JSON maps shared with the bridges; the worker reads the
fields below and ignores the rest (such as a channel's inbound signing secret).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from adapters import BoundChannel
from kafkaclients import KafkaConnection
from schemas.registry import RegistrySettings
from telemetry.logs import LogFormat


class DefaultProfile(BaseModel):
    """SDE values used when the channel sends none for a consumer."""

    model_config = ConfigDict(extra="ignore")
    language: str | None = None
    customer_type: str | None = None


class Notices(BaseModel):
    """Texts the consumer gets when the conversation changes; null turns one off."""

    model_config = ConfigDict(extra="ignore")
    transferred: str | None = "You are being transferred to another agent."
    closed: str | None = "This conversation has been closed. Write again any time."
    survey: str | None = None


class ChannelRoute(BoundChannel):
    """One channel (an account or number at a gateway): where its consumers' conversations go in LiveEngage,
    and its adapter (``generic`` unless named) with that adapter's settings for reaching the gateway."""

    account_id: str
    skill_id: str | None = None
    campaign_id: str | None = None
    engagement_id: str | None = None
    default_profile: DefaultProfile = DefaultProfile()
    notices: Notices = Notices()
    opted_out_notice: str | None = Field(
        default="[automatic] This consumer has opted out of messages on this channel (STOP). Nothing is delivered "
                "to them until they text START.",
        description="what the agent reads, once, when a message is held back for an opted-out consumer")
    help_reply: str | None = Field(default=None, description="sent back at once when a consumer texts HELP on a "
                                                              "channel with opt-out keywords")


class LiveEngageCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")
    client_id: str
    client_secret: SecretStr
    # Read by the webhook bridge during a rotation; the worker only keeps it out of its logs.
    previous_client_secret: SecretStr | None = None
    admin_token: SecretStr | None = Field(default=None, description="bearer token for the App Installation API "
                                                                   "(only `register-webhooks` needs it)")


class WorkerSettings(KafkaConnection, RegistrySettings):
    # Safe on a real cluster: three copies, and a write acknowledged only once two have it. The local stack sets 1.
    kafka_replication_factor: int = Field(3, ge=1, description="replicas of every topic the worker creates")
    kafka_min_insync_replicas: int = Field(2, ge=1, description="min.insync.replicas of the topics it creates")
    kafka_topics: Literal["create", "check"] = Field(
        "create", description="create: the worker creates missing topics; check: it only checks that every topic "
                              "exists with enough partitions (for clusters whose topics a platform team owns)")
    app_id: str = Field("lec-worker", description="Faust app id: names the consumer group and changelog topics")
    partitions: int = Field(4, gt=0, description="partitions of every topic and table the worker declares")
    data_dir: Path = Path(".run/worker")
    store: Literal["memory", "rocksdb"] = Field(
        "memory", description="where the worker keeps its tables: memory (rebuilt from the changelogs on every "
                              "start) or rocksdb (on LEC_DATA_DIR: a restart reads it and replays only the "
                              "changelogs' tail)")
    # Faust's own RocksDB defaults give each database (one per partition of each of 8 tables) a 2 GiB block
    # cache and three 64 MiB write buffers: no memory limit holds them. Measured in make bench's state stage at
    # 100k consumers: a cold start's RSS fell from 332 to 177 MiB; warm starts, the load and the expiry alike.
    rocksdb_block_cache_mib: int = Field(4, ge=1, description="RocksDB block cache of each table partition "
                                         "(LEC_STORE=rocksdb): recently read records kept in memory")
    rocksdb_write_buffer_mib: int = Field(2, ge=1, description="RocksDB write buffer of each table partition; "
                                          "two at most, then written to disk")
    web_host: str = Field("127.0.0.1", description="address of the worker's probes and metrics (0.0.0.0 in a pod)")
    web_port: int = Field(6066, description="port of the worker's /livez, /readyz and /metrics")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: LogFormat = Field("text", description="text, or json: one object per line for a log pipeline, with "
                                                      "the Kafka record being handled (topic, partition, offset, "
                                                      "event and conversation ids)")
    log_pii: bool = Field(default=False, description="let phone numbers and message texts into DEBUG logs")
    liveengage_domain_api: str = Field("https://api.liveperson.net", description="LiveEngage Domain API (CSDS)")
    # Service hosts from the Domain API are bare host names; LiveEngage serves them over https.
    liveengage_scheme: Literal["https", "http"] = "https"
    liveengage_accounts: dict[str, LiveEngageCredentials]
    channels: dict[str, ChannelRoute]
    http_timeout_s: float = Field(10.0, gt=0)
    produce_timeout_s: float = Field(default=30.0, gt=0, description="longest wait for Kafka to take a record; "
                                                                     "then the worker exits without committing")
    commit_every: int = Field(default=100, ge=1, description="commit source offsets after this many records (and "
                              "every few seconds); a crash replays them, and the ledgers make the replays no-ops")
    in_flight: int = Field(default=64, ge=1, description="records each agent handles at once, of different "
                           "conversations (one conversation's stay in order); the most a crash can replay beyond "
                           "the one send per conversation")
    # Measured in make bench's e2e stage: 5 ms gave nothing (333.9 against 334.3 events/s, worker CPU 2,246
    # against 2,206 µs per event, broker CPU alike) and adds its wait to every hop; with records of many
    # conversations in flight, batches fill while the previous produce request is out anyway.
    producer_linger_ms: float = Field(default=0.0, ge=0, description="how long the worker's producer waits to "
                                      "fill a batch before sending it")
    # Measured in make bench's failover stage (one of two workers SIGKILLed under load): the longest wait of a
    # text was 34.8 s with a 30 s session, 14.3 s with 10 s and 7.0 s with 6 s (the broker's
    # group.min.session.timeout.ms); the crash tests run with 6 s beside a CPU hog without a false expiry.
    session_timeout_s: float = Field(default=6.0, gt=0, description="Kafka group session: how soon a crashed "
                                                                    "worker's partitions move to the others")
    # Measured in the failover stage: a worker stopped for an upgrade leaves the group at once, and the other
    # learns of it at its next heartbeat (on average half the interval): 1 s was a third of the 2 s handover.
    heartbeat_interval_s: float = Field(default=0.3, gt=0, description="how often a worker tells the group it "
                                        "lives, and so how soon it learns that another one left (at most a "
                                        "third of the session)")
    # Faust keeps a standby copy of a table partition only in a persistent store: the memory store drops every
    # partition it is not active for once a recovery completes, so a promoted standby reads it all again.
    standby_replicas: int = Field(default=1, ge=0, description="standby copies of each table partition kept by "
                                  "other workers (with LEC_STORE=rocksdb), which take over a stopped worker's "
                                  "partitions from them")
    send_attempts: int = Field(4, ge=1, description="tries of a channel delivery before it dead-letters")
    retry_base_delay_s: float = Field(0.5, ge=0, description="first backoff of channel deliveries, then doubled")
    # LiveEngage's advice: after a 5xx retry after 5, 10 and 15 s, then back off longer (2, 4, 8 min).
    retry_delays_s: list[float] = Field(default=[5, 10, 15, 120, 240, 480], min_length=1,
                                        description="waits before each Send API retry; then it dead-letters")
    foreign_event_max_age_s: float = Field(60.0, gt=0, description="how long a LiveEngage event of a conversation "
                                           "with no route is kept for its route; then it is dropped and counted")
    parked_events_max: int = Field(200, ge=1, description="events kept per conversation with no route")
    parked_conversations_max: int = Field(10000, ge=1, description="conversations with no route whose events are "
                                          "kept, per partition; the oldest is dropped beyond it")
    # A month: past LiveEngage's own auto-close and survey windows, so that what is forgotten is over (README,
    # "State retention").
    state_retention_s: float = Field(30 * 86400, gt=0, description="how long a consumer with no open conversation "
                                     "is remembered after their last activity: their conversation state, routes, "
                                     "identity and recent deliveries; then their next text opens a new conversation")
    state_sweep_interval_s: float = Field(3600, gt=0, description="how often each worker looks for state past "
                                          "LEC_STATE_RETENTION_S")
    public_webhook_url: str | None = Field(default=None, description="the webhook bridge's URL as LiveEngage "
                                                                    "reaches it; register-webhooks registers it")
    webhook_retention_s: int | None = Field(default=86400, ge=2, le=259200, description="time-to-live retry "
                                            "retention; null for number-based retries only")
    webhook_max_retries: int = Field(default=3, ge=0, le=5)
    max_file_bytes: int = Field(3 * 1024 * 1024, gt=0, description="LiveEngage takes files up to 3 MB")
    channel_bridge_public_url: str | None = Field(default=None, description="the channel bridge's URL as "
                                                  "gateways call it; where they report delivery statuses")
    analytics_key: SecretStr | None = Field(default=None, description="HMAC key of consumer digests in "
                                            "lec.analytics.events; unset: that topic is not written")

    def secrets(self) -> list[str]:
        """Every configured secret, for log redaction."""
        accounts = [(a.client_secret, a.admin_token, a.previous_client_secret)
                    for a in self.liveengage_accounts.values()]
        values = [s for secrets in accounts for s in secrets if s is not None]
        values += [self.analytics_key] if self.analytics_key is not None else []
        channel_secrets = [secret for channel in self.channels.values() for secret in channel.binding.secrets()]
        return [v.get_secret_value() for v in values] + channel_secrets + self.kafka_secrets() + self.registry_secrets()

    @model_validator(mode="after")
    def _replicas_fit(self) -> WorkerSettings:
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError(f"LEC_KAFKA_MIN_INSYNC_REPLICAS: {self.kafka_min_insync_replicas} is more than "
                             f"LEC_KAFKA_REPLICATION_FACTOR={self.kafka_replication_factor}; no write could succeed")
        return self
