"""Both bridges' HTTP answers, in process: status, JSON error bodies, and nothing published for bad input.

The producer here records what would be published; the real-broker paths are in tests/e2e.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulators.channel.app import sign as channel_sign
from emulators.liveengage.webhooks import Signing
from gateways.channel.app import create_app as channel_app
from gateways.errors import BrokerUnavailableError
from gateways.liveengage.app import create_app as webhook_app
from gateways.settings import ChannelBridgeSettings, WebhookBridgeSettings
from schemas.topics import TopicSpec
from tests.conftest import generic_channel

CHANNEL_SECRET = "channel-secret"
CLIENT_ID = "client-1"
CLIENT_SECRET = "client-secret"


class RecordingProducer:
    def __init__(self, *, fail: bool = False) -> None:
        self.published: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
        self.fail = fail
        self.ready = True

    async def publish(self, topic: TopicSpec, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if self.fail:
            raise BrokerUnavailableError("Kafka did not acknowledge the event: KafkaTimeoutError")
        self.published.append((topic.name, list(records)))


def client_for(app: Starlette, producer: RecordingProducer) -> httpx.AsyncClient:
    app.state.producer = producer
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")


@pytest.fixture
def channel_settings() -> ChannelBridgeSettings:
    return ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)}, max_body_bytes=2048)


def inbound(**overrides: Any) -> bytes:
    body = {"message_id": "m-1", "consumer_id": "+4917", "text": "hello", "timestamp": 1717430400000} | overrides
    return json.dumps(body).encode()


async def post_inbound(client: httpx.AsyncClient, body: bytes, *, secret: str = CHANNEL_SECRET,
                       channel: str = "sms", content_type: str = "application/json") -> httpx.Response:
    headers = {"content-type": content_type, "x-channel-signature": channel_sign(body, secret)}
    return await client.post(f"/v1/channels/{channel}/messages", content=body, headers=headers)


async def test_channel_message_is_published_keyed_by_consumer(channel_settings: ChannelBridgeSettings) -> None:
    producer = RecordingProducer()
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, inbound(profile={"first_name": "Ana"}))
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "message_id": "m-1"}
    ((topic, [(key, record)]),) = producer.published
    assert topic == "lec.channel.inbound" and key == "sms:+4917"
    assert record["text"] == "hello" and record["profile"]["first_name"] == "Ana" and record["kind"] == "TEXT"


@pytest.mark.parametrize(("kwargs", "status", "error"), [
    ({"secret": "wrong"}, 401, "unauthorized"),
    ({"channel": "nope"}, 404, "not_found"),
    ({"content_type": "text/plain"}, 415, "unsupported_media_type"),
])
async def test_channel_refusals(channel_settings: ChannelBridgeSettings, kwargs: dict[str, str], status: int,
                                error: str) -> None:
    producer = RecordingProducer()
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, inbound(), **kwargs)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["detail"]
    assert producer.published == []


@pytest.mark.parametrize(("body", "field"), [
    (inbound(text=""), "text"),
    (inbound(timestamp="yesterday"), "timestamp"),
    (json.dumps({"text": "hi"}).encode(), "message_id"),
    (inbound(profile={"first_name": 5}), "profile.first_name"),
])
async def test_channel_body_errors_name_the_field(channel_settings: ChannelBridgeSettings, body: bytes,
                                                  field: str) -> None:
    producer = RecordingProducer()
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, body)
    assert response.status_code == 400
    assert field in [f["field"] for f in response.json()["fields"]]
    assert producer.published == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", "\"ü\"".encode("latin-1")])
async def test_channel_non_object_bodies_are_400(channel_settings: ChannelBridgeSettings, body: bytes) -> None:
    producer = RecordingProducer()
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, body)
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert producer.published == []


async def test_oversized_body_is_413(channel_settings: ChannelBridgeSettings) -> None:
    producer = RecordingProducer()
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, inbound(text="x" * 3000))
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert producer.published == []


async def test_broker_unavailable_is_503_with_retry_after(channel_settings: ChannelBridgeSettings) -> None:
    async with client_for(channel_app(channel_settings), RecordingProducer(fail=True)) as client:
        response = await post_inbound(client, inbound())
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"] == "broker_unavailable"


@pytest.fixture
def webhook_settings() -> WebhookBridgeSettings:
    return WebhookBridgeSettings(liveengage_accounts={"acct": {"client_id": CLIENT_ID,
                                                               "client_secret": CLIENT_SECRET}})


NOTIFICATION = json.dumps({"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": [
    {"sequence": 1, "originatorId": "a", "originatorMetadata": {"id": "a", "role": "ASSIGNED_AGENT"},
     "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"}, "dialogId": "c-1",
     "conversationId": "c-1"}]}}, separators=(",", ":")).encode()


def webhook_headers(body: bytes, **overrides: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "x-liveperson-account-id": "acct",
               "x-liveperson-client-id": CLIENT_ID,
               "x-liveperson-signature": Signing().header(CLIENT_SECRET, body)} | overrides
    return {name: value for name, value in headers.items() if value is not None}


async def test_signed_webhook_is_published(webhook_settings: WebhookBridgeSettings) -> None:
    producer = RecordingProducer()
    async with client_for(webhook_app(webhook_settings), producer) as client:
        response = await client.post("/v1/liveengage/webhooks", content=NOTIFICATION,
                                     headers=webhook_headers(NOTIFICATION))
    assert response.status_code == 200 and response.json() == {"status": "accepted", "events": 1}
    ((topic, [(key, record)]),) = producer.published
    assert topic == "lec.liveengage.events" and key == "c-1" and record["account_id"] == "acct"


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"x-liveperson-signature": "sha1=AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "x-liveperson-signature"),
    ({"x-liveperson-signature": None}, "x-liveperson-signature"),
    ({"x-liveperson-client-id": "someone-else"}, "x-liveperson-client-id"),
    ({"x-liveperson-account-id": None}, "x-liveperson-account-id"),
    ({"x-liveperson-account-id": "other"}, "not configured"),
])
async def test_webhook_auth_failures_are_401(webhook_settings: WebhookBridgeSettings,
                                             overrides: dict[str, str | None], problem: str) -> None:
    producer = RecordingProducer()
    async with client_for(webhook_app(webhook_settings), producer) as client:
        response = await client.post("/v1/liveengage/webhooks", content=NOTIFICATION,
                                     headers=webhook_headers(NOTIFICATION, **overrides))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized" and problem in response.json()["detail"]
    assert CLIENT_SECRET not in response.text
    assert producer.published == []


async def test_webhook_bad_body_after_valid_signature_is_400(webhook_settings: WebhookBridgeSettings) -> None:
    body = b'{"type":"ms.MessagingEventNotification","body":{"changes":[{"dialogId":"d"}]}}'
    producer = RecordingProducer()
    async with client_for(webhook_app(webhook_settings), producer) as client:
        response = await client.post("/v1/liveengage/webhooks", content=body, headers=webhook_headers(body))
    assert response.status_code == 400 and "event.type" in response.json()["detail"]
    assert producer.published == []


async def test_webhook_form_content_type_is_415(webhook_settings: WebhookBridgeSettings) -> None:
    producer = RecordingProducer()
    async with client_for(webhook_app(webhook_settings), producer) as client:
        headers = webhook_headers(NOTIFICATION, **{"content-type": "application/x-www-form-urlencoded"})
        response = await client.post("/v1/liveengage/webhooks", content=NOTIFICATION, headers=headers)
    assert response.status_code == 415
    assert producer.published == []


@pytest.mark.parametrize(("fields", "kind", "record_fields"), [
    ({"type": "file", "file": {"url": "https://gw/f/1", "content_type": "image/png"}}, "FILE",
     {"file": {"url": "https://gw/f/1", "content_type": "image/png", "caption": None}}),
    ({"type": "receipt", "receipt": {"status": "read", "message_ids": ["c:1"]}}, "RECEIPT",
     {"receipt_status": "read", "receipt_message_ids": ["c:1"]}),
    ({"type": "typing", "typing": {"state": "composing"}}, "CHAT_STATE", {"chat_state": "composing"}),
    ({"type": "close"}, "CLOSE", {}),
    ({"type": "survey", "survey": {"csat": 5, "fcr": False}}, "SURVEY", {"csat_rate": 5, "fcr": False}),
])
async def test_each_channel_event_type_is_published(channel_settings: ChannelBridgeSettings, fields: dict[str, Any],
                                                    kind: str, record_fields: dict[str, Any]) -> None:
    producer = RecordingProducer()
    body = {"message_id": "m-1", "consumer_id": "+4917", "timestamp": 1717430400000} | fields
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, json.dumps(body).encode())
    assert response.status_code == 202
    ((_, [(_, record)]),) = producer.published
    assert record["kind"] == kind and record["text"] is None
    assert {k: record[k] for k in record_fields} == record_fields


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "file"}, "body"),
    ({"type": "file", "file": {"url": "ftp://x", "content_type": "image/png"}}, "file.url"),
    ({"type": "file", "file": {"url": "https://x", "content_type": "application/pdf"}}, "file.content_type"),
    ({"type": "receipt", "receipt": {"status": "seen", "message_ids": ["a"]}}, "receipt.status"),
    ({"type": "typing", "typing": {"state": "dancing"}}, "typing.state"),
    ({"type": "survey", "survey": {"csat": 9}}, "survey.csat"),
    ({"type": "video"}, "type"),
])
async def test_channel_event_types_need_their_fields(channel_settings: ChannelBridgeSettings,
                                                     fields: dict[str, Any], field: str) -> None:
    producer = RecordingProducer()
    body = {"message_id": "m-1", "consumer_id": "+4917", "timestamp": 1717430400000} | fields
    async with client_for(channel_app(channel_settings), producer) as client:
        response = await post_inbound(client, json.dumps(body).encode())
    assert response.status_code == 400
    assert field in [f["field"] for f in response.json()["fields"]]
    assert producer.published == []
