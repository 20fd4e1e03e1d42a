"""Builds the worker's Faust app: the only ``faust.App(...)`` call, its tables, clients and flows."""

from __future__ import annotations

import logging

import faust
from mode import Service

from kafkaclients import faust_options
from schemas import topics as catalogue
from streams import agent_flow, consumer_flow, delivery, http, identities, metrics, retention, topic_plan
from streams.analytics import Analytics
from streams.channels import ChannelClient
from streams.engine.deadletters import DeadLetters, HandledOnlyEvent
from streams.engine.faust_internals import collect_garbage_only_for_closed_databases
from streams.health import HealthEndpoint
from streams.liveengage import LiveEngageClient
from streams.optout import OptOuts
from streams.parking import ParkedEvents
from streams.settings import WorkerSettings
from streams.sender import ConversationSender
from streams.state import RecentIds, RecordTable
from telemetry import logs
from streams.engine.topics import Topics, set_publish_patience

logger = logging.getLogger(__name__)


# Redeliveries of a webhook come within LiveEngage's retry window, replays of a delivery right after a crash:
# the latest ids per conversation and per consumer are enough to drop them, and keep state bounded.
SEEN_EVENTS_KEPT = 200
DELIVERIES_KEPT = 50


def store_options(settings: WorkerSettings) -> dict[str, int]:
    """Options of one table's store: RocksDB's memory per partition database, bounded (the settings' comment).
    A fresh dict per table: Faust's store takes some keys out of the one it is given."""
    if settings.store != "rocksdb":
        return {}
    return {"block_cache_size": settings.rocksdb_block_cache_mib * 2**20,
            "write_buffer_size": settings.rocksdb_write_buffer_mib * 2**20, "max_write_buffer_number": 2}


def create_app(settings: WorkerSettings) -> faust.App:
    """A configured app; nothing connects until the worker starts it."""
    app = faust.App(
        settings.app_id,
        **faust_options(settings),  # brokers and credentials: the same connection as every other client
        store=f"{settings.store}://",  # memory: rebuilt from the changelogs on start; rocksdb: kept in datadir
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        # streams.provision creates or checks every topic first; with "check", Faust must not try to create any.
        topic_allow_declare=settings.kafka_topics == "create",
        datadir=str(settings.data_dir),
        autodiscover=False,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_request_timeout=settings.produce_timeout_s,
        producer_linger=settings.producer_linger_ms / 1000,
        # A record is acked only once Kafka acknowledged its table writes (the ledger; streams.engine.deadletters), so
        # the records a crash replays since the last commit are no-ops, except the one send in flight. A commit
        # per record would cost a round trip and Faust's commit work each (4x slower in the benchmark).
        broker_commit_every=settings.commit_every,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(settings.heartbeat_interval_s, settings.session_timeout_s / 3),
        table_standby_replicas=settings.standby_replicas,
        Event=HandledOnlyEvent,  # never ack a record that was not carried out (see streams.engine.deadletters)
    )
    if settings.store == "rocksdb":
        collect_garbage_only_for_closed_databases()  # else each rebalance blocks the loop for one per table
    # Values are our Avro bytes. value_type=bytes makes Faust use the raw codec for the changelog too; with
    # only a schema= argument, recovery would read the changelog as JSON and fail.
    tables = {
        name: app.Table(name, default=None, key_type=str, value_type=bytes, partitions=settings.partitions,
                        extra_topic_configs=topic_plan.durable(settings.kafka_min_insync_replicas),
                        options=store_options(settings))
        for name in catalogue.TABLES
    }
    topics = Topics.of(app)
    set_publish_patience(settings.produce_timeout_s)
    dead_letters = DeadLetters(app, settings, in_flight=settings.in_flight)
    metrics.WORKER_STATE.watch(dead_letters.backlog, tables, dead_letters.in_flight, app)
    client = http.new_client(settings.http_timeout_s)

    class CloseHttpClient(Service):
        async def on_stop(self) -> None:
            await client.aclose()

    app.service(CloseHttpClient)

    class Probes(HealthEndpoint):  # Faust starts it once the tables are recovered: ready means recovered too
        def __init__(self, **kwargs: object) -> None:
            super().__init__(app, settings.web_host, settings.web_port)

    app.service(Probes)
    channels = ChannelClient(client, settings)
    choices = RecordTable(tables[catalogue.CHOICES_TABLE], "OfferedChoices")
    analytics = Analytics(topics.analytics_events, settings.analytics_key)
    opt_outs = OptOuts(tables[catalogue.OPT_OUTS_TABLE])
    delivered = RecentIds(tables[catalogue.DELIVERED_TABLE], keep=DELIVERIES_KEPT)
    conversations = RecordTable(tables[catalogue.CONVERSATIONS_TABLE], "ConversationState")
    backlog = retention.ExpiryBacklog()  # the sweep's requests the sender has yet to handle
    sender = ConversationSender(conversations, LiveEngageClient(client, settings), channels, topics, dead_letters,
                                analytics, retention.Forgetting(topics, choices, delivered, opt_outs, backlog),
                                settings)
    consumer_flow.install(app, topics, sender, choices, opt_outs, dead_letters, settings)
    consumer_identities = RecordTable(tables[catalogue.IDENTITIES_TABLE], "ConsumerIdentity")
    identities.install(app, topics, consumer_identities, dead_letters)
    parked = ParkedEvents(tables[catalogue.PARKED_TABLE], max_age_s=settings.foreign_event_max_age_s,
                          max_events=settings.parked_events_max, max_conversations=settings.parked_conversations_max)
    agent_flow.install(app, topics, RecordTable(tables[catalogue.ROUTES_TABLE], "ConversationRoute"),
                       RecentIds(tables[catalogue.SEEN_EVENTS_TABLE], keep=SEEN_EVENTS_KEPT), parked, dead_letters,
                       settings)
    delivery.install(app, topics, delivered, choices, opt_outs, dead_letters, channels, analytics, settings)
    sweep = retention.Sweep(app, topics, conversations, consumer_identities, settings.state_retention_s,
                            settings.partitions, backlog, tables.values())

    async def sweep_state() -> None:
        try:
            await sweep.run()
        except Exception:  # noqa: BLE001 - a sweep that failed is done again at the next interval
            logger.exception("state retention sweep failed; trying again in %ss", settings.state_sweep_interval_s)

    app.timer(settings.state_sweep_interval_s, name="state_retention_sweep")(sweep_state)

    return app


def execute(app: faust.App, loglevel: str, *, quiet: bool = False, log_format: logs.LogFormat = "text") -> None:
    """Run ``app`` in a Faust worker until it stops: the worker owns the event loop, handles SIGTERM/SIGINT by
    stopping the app cleanly, and exits the process.

    Without its terminal spinner: at WARNING and above Faust sets the root logger to DEBUG for the spinner's sake,
    and every debug call of aiokafka then builds a log record (about 5% of the worker's CPU in ``make bench``)."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=quiet, logging_config=logs.handler_config(loglevel, log_format))
    worker.spinner = None
    worker.execute_from_commandline()
