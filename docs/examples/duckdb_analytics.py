"""The connector's analytics topic in DuckDB, read with Confluent's Kafka client and a Schema Registry alone: no
code of the connector (README, "Analytics with your own tools"). Needs `pip install confluent-kafka[avro,
schemaregistry] duckdb`.

    SCHEMA_REGISTRY_USER_INFO=user:password \
    python docs/examples/duckdb_analytics.py --bootstrap kafka:9092 --registry https://registry/apis/ccompat/v7

Prints, per channel: conversations, messages each way, and how long the connector took to deliver agent
messages to the channel (median, 90th percentile).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import uuid
from typing import Any

import duckdb
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

QUERY = """
WITH unique_events AS (SELECT DISTINCT ON (event_id) * FROM events)  -- the topic is at least once
SELECT channel_id,
       count(DISTINCT conversation_id)                                       AS conversations,
       count(*) FILTER (WHERE kind = 'CONSUMER_MESSAGE')                     AS consumer_messages,
       count(*) FILTER (WHERE kind = 'AGENT_MESSAGE')                        AS agent_messages,
       median(latency_ms) FILTER (WHERE kind = 'AGENT_MESSAGE')              AS median_agent_delivery_ms,
       quantile_cont(latency_ms, 0.9) FILTER (WHERE kind = 'AGENT_MESSAGE')  AS p90_agent_delivery_ms
FROM unique_events
GROUP BY channel_id
ORDER BY channel_id
"""


def read_topic(bootstrap: str, registry: dict[str, str], topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` now, decoded through the registry."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"duckdb-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    with SchemaRegistryClient(registry) as client:
        return read_until_end(consumer, AvroDeserializer(client), topic)


def read_until_end(consumer: Consumer, deserialize: AvroDeserializer, topic: str) -> list[dict[str, Any]]:
    """Records of ``topic`` from its start to the end it had when asked."""
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        remaining = {p for p, end in ends.items() if end > 0}
        rows = []
        while remaining:
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error():
                    raise RuntimeError(message.error())
                rows.append(deserialize(message.value(), SerializationContext(topic, MessageField.VALUE)))
                if message.offset() + 1 >= ends[message.partition()]:
                    remaining.discard(message.partition())
        return rows
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True, help="the registry's Confluent-compatible URL")
    parser.add_argument("--registry-ca", help="PEM CAs of the registry's certificate")
    parser.add_argument("--topic", default="lec.analytics.events")
    parser.add_argument("--csv", action="store_true", help="CSV instead of a table")
    args = parser.parse_args()
    registry = {"url": args.registry}
    if os.environ.get("SCHEMA_REGISTRY_USER_INFO"):  # basic auth, user:password (not on the command line)
        registry["basic.auth.user.info"] = os.environ["SCHEMA_REGISTRY_USER_INFO"]
    if args.registry_ca:
        registry["ssl.ca.location"] = args.registry_ca
    events = read_topic(args.bootstrap, registry, args.topic)
    db = duckdb.connect()
    db.execute("CREATE TABLE events (event_id VARCHAR, kind VARCHAR, occurred_at TIMESTAMPTZ, channel_id VARCHAR, "
               "conversation_id VARCHAR, latency_ms BIGINT)")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                   [(e["event_id"], e["kind"], e["occurred_at"], e["channel_id"], e["conversation_id"],
                     e["latency_ms"]) for e in events])
    result = db.sql(QUERY)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.fetchall())
    else:
        result.show()


if __name__ == "__main__":
    main()
