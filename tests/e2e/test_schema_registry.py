"""The Schema Registry wire format end to end, against a real registry (Apicurio Registry, started by
devstack.schema_registry with basic auth and TLS): every process registers its topics' schemas with BACKWARD
compatibility; after a conversation, Confluent's own client decodes every record of every topic through the registry
with no code of this project (retries and dead letters included), while the worker's state stays single-object; a
schema that evolves compatibly is accepted and old readers keep reading; an incompatible one stops the process
before it writes anything; records in the old format still flow.

The tests run in file order: the one that writes a single-object record to the inbound topic comes after those that
read that topic with Confluent's client (which reads only the registry's format)."""

from __future__ import annotations

import csv
import io
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from devstack import tls
from devstack.broker import KafkaBroker
from devstack.schema_registry import RegistryTls, SchemaRegistry
from devstack.stack import Stack, StackConfig
from schemas import topics as catalogue
from schemas.codec import codec, use_registry, use_single_object
from schemas.registry import RegistryClient, RegistryWriters, schema_text, subject
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, produce_raw, read_messages

pytestmark = pytest.mark.e2e
USER = ("lec-connector", secrets.token_urlsafe(12))
APP_ID = "lec-worker"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaRegistry]:
    folder = tmp_path_factory.mktemp("registry")
    certificates = tls.create(folder / "tls")
    server = SchemaRegistry(folder, user=USER, tls=RegistryTls(certificates.broker.certificate_file,
                                                               certificates.broker.key_file, certificates.ca_file))
    with server:
        yield server


def registry_settings(registry: SchemaRegistry) -> dict[str, str]:
    assert registry.tls is not None
    return {"LEC_SCHEMA_REGISTRY_URL": registry.url, "LEC_SCHEMA_REGISTRY_USERNAME": USER[0],
            "LEC_SCHEMA_REGISTRY_PASSWORD": USER[1], "LEC_SCHEMA_REGISTRY_CA_FILE": str(registry.tls.ca_file)}


@pytest.fixture(scope="module")
def stack(registry: SchemaRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker and stack of this module's own, every process writing the registry format (the default once a
    registry is set)."""
    with KafkaBroker(log_path=tmp_path_factory.mktemp("registry-kafka") / "broker.log") as broker:
        config = StackConfig.on_free_ports(registry_settings=registry_settings(registry))
        running = Stack(broker.bootstrap, config, Path(tmp_path_factory.mktemp("registry-stack")))
        try:
            running.start()
            yield running
        finally:
            running.stop()


@pytest.fixture(autouse=True)
def reads_registry(registry: SchemaRegistry) -> Iterator[None]:
    """This test process reads the registry format too (it writes single-object records: no ids registered)."""
    assert registry.tls is not None
    client = RegistryClient(registry.url, auth=USER, ca_file=registry.tls.ca_file)
    use_registry(RegistryWriters(client), {})
    yield
    use_single_object()
    client.close()


@pytest.fixture
def sandboxes(stack: Stack) -> Iterator[Sandboxes]:
    helper = Sandboxes(stack)
    yield helper
    helper.http.close()


def inbound_text(channel_id: str, consumer: str, text: str, **more: Any) -> dict[str, Any]:
    """A ChannelInbound text as a bridge writes it."""
    now = datetime.now(timezone.utc)
    return {"event_id": f"written-{uuid.uuid4().hex}", "channel_id": channel_id, "consumer_id": consumer,
            "kind": "TEXT", "text": text, "profile": None, "sent_at": now, "received_at": now, "attributes": {},
            "file": None, "receipt_status": None, "receipt_message_ids": [], "chat_state": None, "csat_rate": None,
            "fcr": None, **more}


def foreign_client(registry: SchemaRegistry) -> SchemaRegistryClient:
    assert registry.tls is not None
    return SchemaRegistryClient({"url": registry.url, "basic.auth.user.info": ":".join(USER),
                                 "ssl.ca.location": str(registry.tls.ca_file)})


def foreign_read(bootstrap: str, topic: str, registry: SchemaRegistry) -> list[tuple[bytes, dict[str, Any]]]:
    """Every record of ``topic`` (raw value, decoded value), read and decoded by Confluent's consumer and Avro
    deserializer alone."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"foreign-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    with foreign_client(registry) as client:
        deserializer = AvroDeserializer(client)
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            records: list[tuple[bytes, dict[str, Any]]] = []
            positions = {p: 0 for p in partitions}

            def caught_up() -> bool:
                for message in consumer.consume(num_messages=500, timeout=0.5):
                    assert message.error() is None, message.error()
                    value = message.value()
                    records.append((value, deserializer(value, SerializationContext(topic, MessageField.VALUE))))
                    positions[message.partition()] = message.offset() + 1
                return all(positions[p] >= ends[p] for p in partitions)

            wait_until(caught_up, timeout=DEADLINE_S, interval=0, what=f"the end of {topic}")
            return records
        finally:
            consumer.close()


def test_every_topic_has_its_subject_with_backward_compatibility(stack: Stack, registry: SchemaRegistry) -> None:
    expected = {subject(topic) for topic, _ in catalogue.value_records()}
    with registry.client() as client:
        assert expected <= set(client.get(f"{registry.url}/subjects").json())
        for name in expected:
            config = client.get(f"{registry.url}/config/{name}").json()
            assert config.get("compatibilityLevel", config.get("compatibility")) == "BACKWARD", (name, config)
        anonymous = httpx.get(f"{registry.url}/subjects", verify=registry.ssl_context() or True)
        assert anonymous.status_code == 401


def test_confluents_client_decodes_every_record_of_every_topic_after_a_conversation(
        stack: Stack, registry: SchemaRegistry, sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.round_trip(consumer, "Where is my parcel?", "On its way, arriving tomorrow")
    sandboxes.agent(conversation_id, "close", by="AGENT")
    wait_until(lambda: any(r["conversation_id"] == conversation_id and r["kind"] == "CONVERSATION_CLOSED"
                           for _, r in foreign_read(stack.bootstrap, catalogue.ANALYTICS_EVENTS.name, registry)),
               timeout=DEADLINE_S, interval=0.5, what="the close in the analytics topic")
    counts = {}
    for topic, record_name in catalogue.value_records():
        values = foreign_read(stack.bootstrap, topic, registry)
        assert all(raw[0] == 0 for raw, _ in values), f"{topic}: a record not in the registry format"
        for raw, decoded in values:  # the foreign reading is ours, field by field
            assert decoded == codec(record_name).decode(raw), topic
        counts[topic] = len(values)
    busy = [catalogue.CHANNEL_INBOUND, catalogue.LIVEENGAGE_COMMANDS, catalogue.LIVEENGAGE_EVENTS,
            catalogue.CONVERSATION_ROUTES, catalogue.CHANNEL_OUTBOUND, catalogue.CONSUMER_IDENTITIES,
            catalogue.ANALYTICS_EVENTS]
    assert all(counts[topic.name] > 0 for topic in busy), counts
    # The worker's own state never depends on the registry: its changelogs stay single-object.
    states = [m.value for m in read_messages(stack, f"{APP_ID}-{catalogue.CONVERSATIONS_TABLE}-changelog")
              if m.value is not None]
    assert states and all(value[:2] == b"\xc3\x01" for value in states)


def test_the_readmes_duckdb_example_queries_the_analytics_topic(
        stack: Stack, registry: SchemaRegistry, sandboxes: Sandboxes, consumer: str) -> None:
    """docs/examples/duckdb_analytics.py, as the README shows it: Confluent's client, the registry and DuckDB."""
    conversation_id = sandboxes.round_trip(consumer, "Do you ship abroad?", "Yes, to 40 countries")
    wait_until(lambda: any(r["conversation_id"] == conversation_id and r["kind"] == "AGENT_MESSAGE"
                           for _, r in foreign_read(stack.bootstrap, catalogue.ANALYTICS_EVENTS.name, registry)),
               timeout=DEADLINE_S, interval=0.5, what="the agent's message in the analytics topic")
    assert registry.tls is not None
    example = subprocess.run(
        [sys.executable, str(Path(__file__).parents[2] / "docs" / "examples" / "duckdb_analytics.py"),
         "--bootstrap", stack.bootstrap, "--registry", registry.url, "--registry-ca", str(registry.tls.ca_file),
         "--csv"], env={"PATH": "/usr/bin:/bin", "SCHEMA_REGISTRY_USER_INFO": ":".join(USER)},
        capture_output=True, text=True, timeout=120)
    assert example.returncode == 0, example.stderr
    rows = {row["channel_id"]: row for row in csv.DictReader(io.StringIO(example.stdout))}
    row = rows[sandboxes.channel_id]
    assert int(row["conversations"]) >= 1 and int(row["agent_messages"]) >= 1, row
    assert float(row["median_agent_delivery_ms"]) >= 0, row


def test_confluents_client_decodes_retries_and_dead_letters(
        stack: Stack, registry: SchemaRegistry, sandboxes: Sandboxes, consumer: str) -> None:
    """The topics a quiet conversation leaves empty: a Send API call refused with 503 (a retry record) and one
    refused with 400 (a dead letter of the command)."""
    faults = f"{stack.config.liveengage_url}/sandbox/faults"
    key = sandboxes.ext_consumer_id(consumer)
    sandboxes.open_conversation(consumer, "hello")
    for status in (503, 400):
        fault = {"endpoint": "send", "status": status, "count": 1, "ext_consumer_id": key}
        assert sandboxes.http.post(faults, json=fault).status_code == 200
        sandboxes.consumer_says(consumer, f"met a {status}")
        wait_until(lambda: "met a 503" in sandboxes.published_texts(consumer) and sandboxes.http.get(faults).json()
                   .get("active") == [], timeout=DEADLINE_S, what=f"the {status} injected and the text sent")
    for topic, record_name in ((catalogue.LIVEENGAGE_RETRIES.name, "LiveEngageCommand"),
                               (catalogue.LIVEENGAGE_COMMANDS.dead_letters.name, "DeadLetter")):
        values = wait_until(lambda: foreign_read(stack.bootstrap, topic, registry), timeout=DEADLINE_S,
                            interval=0.5, what=f"a record in {topic}")
        assert all(raw[0] == 0 and decoded == codec(record_name).decode(raw) for raw, decoded in values), topic


def test_an_optional_field_added_is_accepted_and_old_readers_keep_reading(
        stack: Stack, registry: SchemaRegistry, sandboxes: Sandboxes, consumer: str) -> None:
    """A newer writer (a field with a default added) registers under BACKWARD; the running worker, an old reader,
    routes its record; Confluent's client reads it too."""
    evolved = json.loads(schema_text("ChannelInbound"))
    evolved["fields"].append({"name": "loyalty_tier", "type": ["null", "string"], "default": None})
    assert registry.tls is not None
    client = RegistryClient(registry.url, auth=USER, ca_file=registry.tls.ca_file)
    try:
        new_id = client.register(subject(catalogue.CHANNEL_INBOUND.name), json.dumps(evolved))
    finally:
        client.close()
    key = sandboxes.ext_consumer_id(consumer)
    record = inbound_text(sandboxes.channel_id, consumer, "written by a newer bridge", loyalty_tier="gold")
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.schema.parse_schema(evolved), record)
    produce_raw(stack.bootstrap, catalogue.CHANNEL_INBOUND.name, key,
                b"\x00" + new_id.to_bytes(4, "big") + body.getvalue())
    wait_until(lambda: "written by a newer bridge" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the newer writer's text at LiveEngage")
    decoded = [r for _, r in foreign_read(stack.bootstrap, catalogue.CHANNEL_INBOUND.name, registry)
               if r["event_id"] == record["event_id"]]
    assert decoded and decoded[0]["loyalty_tier"] == "gold"


def test_records_in_the_single_object_format_still_flow(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    """What a bridge not yet switched writes (or what was written before the switch) is read all the same."""
    conversation_id = sandboxes.round_trip(consumer, "Hello", "Hi")
    inbound = codec("ChannelInbound").encode(inbound_text(sandboxes.channel_id, consumer, "written before the switch"))
    assert inbound[:2] == b"\xc3\x01"
    produce_raw(stack.bootstrap, catalogue.CHANNEL_INBOUND.name, sandboxes.ext_consumer_id(consumer), inbound)
    wait_until(lambda: "written before the switch" in sandboxes.published_texts(consumer), timeout=DEADLINE_S,
               what="the single-object text at LiveEngage")
    assert str(sandboxes.conversations(consumer)[-1]["conversation_id"]) == conversation_id


def test_an_incompatible_schema_stops_a_process_before_it_writes(stack: Stack,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """A registry whose latest version of the inbound topic's schema has ``text`` as an int: ours (a string) cannot
    read what it wrote, so BACKWARD refuses ours and the channel bridge exits at start with the registry's reason."""
    with SchemaRegistry(tmp_path_factory.mktemp("registry-incompatible")) as other:
        client = RegistryClient(other.url)
        try:
            incompatible = json.loads(schema_text("ChannelInbound"))
            incompatible["fields"] = [{"name": "text", "type": "int"} if f["name"] == "text" else f
                                      for f in incompatible["fields"]]
            name = subject(catalogue.CHANNEL_INBOUND.name)
            client.register(name, json.dumps(incompatible))
            client.set_compatibility(name)
        finally:
            client.close()
        env = stack.connector_env() | {"LEC_SCHEMA_REGISTRY_URL": other.url, "LEC_SCHEMA_REGISTRY_USERNAME": "",
                                       "LEC_SCHEMA_REGISTRY_PASSWORD": "", "LEC_SCHEMA_REGISTRY_CA_FILE": ""}
        bridge = subprocess.run([sys.executable, "-m", "gateways", "channel", "--port", "1"], env=env,
                                capture_output=True, text=True, timeout=120)
    assert bridge.returncode == 78, bridge.stderr
    assert bridge.stderr.strip().splitlines()[-1].startswith(
        f"schema registry refused a schema under {name}: "), bridge.stderr
    assert "Traceback" not in bridge.stderr
