"""The Schema Registry wire format in the codec, and the registry settings (the registry itself: tests/e2e)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import fastavro.schema
import pytest
from pydantic import ValidationError

from schemas import all_record_names, load
from schemas.codec import DecodeError, codec, fingerprint, use_registry, use_single_object
from schemas.registry import RegistrySettings, schema_text

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
ROUTE = {"conversation_id": "c-1", "account_id": "74839201", "channel_id": "sms", "consumer_id": "+4917012",
         "opened_at": NOW, "forgotten": False}


class Writers:
    """Writer schemas by id, as a registry returns them: the registered JSON text, parsed."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.asked: list[int] = []

    def writer(self, schema_id: int) -> Any:
        self.asked.append(schema_id)
        return fastavro.schema.parse_schema(json.loads(self.texts[schema_id]))


@pytest.fixture(autouse=True)
def single_object_after() -> Iterator[None]:
    yield
    use_single_object()


@pytest.mark.parametrize("name", all_record_names())
def test_the_registered_text_of_every_schema_is_the_same_schema_standing_alone(name: str) -> None:
    alone = fastavro.schema.parse_schema(json.loads(schema_text(name)))  # no named types but its own
    assert fingerprint(alone) == fingerprint(load(name))
    assert "__fastavro" not in schema_text(name)


def test_a_registered_record_is_written_with_magic_byte_and_id_and_read_through_the_registry() -> None:
    single_object = codec("ConversationRoute").encode(ROUTE)
    writers = Writers({417: schema_text("ConversationRoute")})
    use_registry(writers, {"liveengage.connector.ConversationRoute": 417})
    data = codec("ConversationRoute").encode(ROUTE)
    assert data[:5] == b"\x00\x00\x00\x01\xa1" and data[5:] == single_object[10:]  # same Avro body
    assert codec("ConversationRoute").decode(data) == ROUTE
    assert codec("ConversationRoute").decode(single_object) == ROUTE  # both formats read, whichever is written
    assert writers.asked == [417]


def test_a_record_type_not_registered_is_still_written_single_object() -> None:
    use_registry(Writers({}), {"liveengage.connector.ConversationRoute": 9})
    assert codec("ConsumerIdentity").encode({
        "lp_consumer_id": "u", "account_id": "a", "channel_id": None, "consumer_id": None, "change": None,
        "seen_at": None, "forget_before": None})[:2] == b"\xc3\x01"


def test_the_registry_format_without_a_registry_fails_naming_the_setting() -> None:
    use_registry(Writers({5: schema_text("ConversationRoute")}), {"liveengage.connector.ConversationRoute": 5})
    data = codec("ConversationRoute").encode(ROUTE)
    use_single_object()
    with pytest.raises(DecodeError, match="schema id 5.*LEC_SCHEMA_REGISTRY_URL"):
        codec("ConversationRoute").decode(data)


def test_a_registry_record_of_another_type_does_not_decode() -> None:
    use_registry(Writers({5: schema_text("ConversationRoute")}), {"liveengage.connector.ConversationRoute": 5})
    with pytest.raises(DecodeError):
        codec("ChannelOutbound").decode(codec("ConversationRoute").encode(ROUTE))


@pytest.mark.parametrize(("environ", "variable"), [
    ({"LEC_WIRE_FORMAT": "registry"}, "LEC_WIRE_FORMAT"),
    ({"LEC_SCHEMA_REGISTRY_URL": "http://r", "LEC_SCHEMA_REGISTRY_USERNAME": "lec"}, "LEC_SCHEMA_REGISTRY_PASSWORD"),
    ({"LEC_SCHEMA_REGISTRY_URL": "http://r", "LEC_SCHEMA_REGISTRY_CA_FILE": "/nowhere.pem"},
     "LEC_SCHEMA_REGISTRY_CA_FILE"),
])
def test_a_registry_setting_that_cannot_work_names_its_variable(
        monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], variable: str) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=variable):
        RegistrySettings()


@pytest.mark.parametrize(("environ", "registry_format"), [
    ({}, False), ({"LEC_SCHEMA_REGISTRY_URL": "http://r"}, True),
    ({"LEC_SCHEMA_REGISTRY_URL": "http://r", "LEC_WIRE_FORMAT": "single-object"}, False),
])
def test_the_registry_format_is_the_default_only_with_a_registry(
        monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], registry_format: bool) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert RegistrySettings().writes_registry_format is registry_format
