"""The Faust app every Faust pipeline of the benchmark runs in: the same broker options, partitions, in-memory
table with its changelog and raw-bytes topics as the worker (``streams.app``), so the pipelines differ only in
what their agent does with each record."""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.types import TableT, TopicT

from kafkaclients import KafkaConnection, faust_options
from streams.app import execute


def bench_app(bootstrap: str, group: str, source: str, target: str,
              **options: Any) -> tuple[faust.App, TableT[str, bytes], TopicT, TopicT]:
    connection = KafkaConnection(kafka_bootstrap=bootstrap)
    app = faust.App(group, **faust_options(connection), store="memory://", topic_partitions=6,
                    topic_replication_factor=1, autodiscover=False, web_enabled=False,
                    consumer_auto_offset_reset="earliest", producer_acks=-1, **options)
    state = app.Table("bench-state", default=None, key_type=str, value_type=bytes, partitions=6)
    # As the worker declares its topics (streams.engine.topics.as_faust_topic): raw bytes, string keys.
    inputs = app.topic(source, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")
    outputs = app.topic(target, key_type=str, value_type=bytes, key_serializer="raw", value_serializer="raw")
    return app, state, inputs, outputs


def run(app: faust.App) -> None:
    """Run the pipeline's worker quietly until its ``Progress`` ends the process."""
    logging.getLogger("faust").setLevel(logging.WARNING)
    execute(app, "warning", quiet=True)
