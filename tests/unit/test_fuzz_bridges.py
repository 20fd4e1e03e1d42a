"""Fuzzing both bridges with generated bodies and headers: never a 5xx, never a record for a refused request.

Each endpoint gets FUZZ_EXAMPLES generated requests (10,000 by default) in process, with a producer that
records what would be published. Some requests are validly signed, so generation reaches past the signature
check into parsing and validation.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emulators.channel.app import sign as channel_sign
from emulators.liveengage.webhooks import Signing
from gateways.channel.app import create_app as channel_app
from gateways.liveengage.app import create_app as webhook_app
from gateways.settings import ChannelBridgeSettings, WebhookBridgeSettings
from tests.unit.test_bridges import CHANNEL_SECRET, CLIENT_ID, CLIENT_SECRET, RecordingProducer
from tests.conftest import generic_channel

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
channel_fields = st.fixed_dictionaries({}, optional={
    "message_id": st.text(max_size=140) | json_values, "consumer_id": st.text(max_size=140) | json_values,
    "timestamp": st.integers(min_value=-5, max_value=2**63) | json_values,
    "type": st.sampled_from(["text", "file", "receipt", "typing", "close", "survey", "video"]) | json_values,
    "text": st.text(max_size=4100) | json_values,
    "file": st.fixed_dictionaries({}, optional={"url": st.text(max_size=50), "content_type": st.text(max_size=20)}),
    "receipt": json_values, "typing": json_values, "survey": json_values, "profile": json_values,
})
short_ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
                    min_size=1, max_size=20)
valid_channel = st.fixed_dictionaries(
    {"message_id": short_ids, "consumer_id": short_ids, "timestamp": st.integers(min_value=0, max_value=2**62)},
    optional={"type": st.just("text"), "text": st.text(min_size=1, max_size=200), "profile": json_values},
).map(lambda d: d if "text" in d else d | {"text": "hi"})
bodies = st.one_of(
    valid_channel.map(lambda d: json.dumps(d).encode()),
    channel_fields.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, sign_it=st.booleans(),
       content_type=st.sampled_from(["application/json"] * 4 + ["application/json; charset=utf-8", "text/plain", ""]),
       signature=header_values, channel=st.sampled_from(["sms"] * 5 + ["other"]))
def test_channel_bridge_never_5xx_and_publishes_only_what_it_accepts(body: bytes, sign_it: bool, content_type: str,
                                                                     signature: str, channel: str) -> None:
    settings_ = ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)}, consumer_burst=10**9,
                                      channel_burst=10**9)
    headers = {"content-type": content_type,
               "x-channel-signature": channel_sign(body, CHANNEL_SECRET) if sign_it else signature}

    async def post() -> tuple[httpx.Response, RecordingProducer]:
        producer = RecordingProducer()
        app = channel_app(settings_)
        app.state.producer = producer
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
            return await client.post(f"/v1/channels/{channel}/messages", content=body, headers=headers), producer

    response, producer = run(post())
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500
    assert isinstance(response.json(), dict) and response.json().get("error" if response.status_code >= 400
                                                                      else "status")
    if response.status_code >= 400:
        assert producer.published == []
    else:
        assert response.status_code == 202 and len(producer.published) == 1


notification_changes = st.lists(st.fixed_dictionaries({}, optional={
    "sequence": st.integers() | json_values, "dialogId": st.text(max_size=20) | json_values,
    "conversationId": st.text(max_size=20) | json_values, "event": json_values | st.fixed_dictionaries(
        {"type": st.sampled_from(["ContentEvent", "ChatStateEvent", ""])}), "originatorMetadata": json_values,
    "serverTimestamp": json_values, "result": json_values | st.fixed_dictionaries({"convId": st.text(max_size=20)}),
}), max_size=4)
valid_change = st.fixed_dictionaries({
    "sequence": st.integers(min_value=0, max_value=2**40), "dialogId": short_ids, "conversationId": short_ids,
    "originatorMetadata": st.fixed_dictionaries({"role": st.sampled_from(["ASSIGNED_AGENT", "CONSUMER"])}),
    "event": st.fixed_dictionaries({"type": st.sampled_from(["ContentEvent", "AcceptStatusEvent"]),
                                    "message": st.text(max_size=100)}),
})
notifications = st.one_of(
    st.fixed_dictionaries({"kind": st.just("notification"), "type": st.just("ms.MessagingEventNotification"),
                           "body": st.fixed_dictionaries({"changes": st.lists(valid_change, max_size=3)})})
    .map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"type": st.sampled_from(["ms.MessagingEventNotification",
                                                    "cqm.ExConversationChangeNotification", "x"]) | json_values,
                           "body": st.fixed_dictionaries({"changes": notification_changes}) | json_values})
    .map(lambda d: json.dumps(d).encode()),
    bodies,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=notifications, sign_it=st.booleans(), account=st.sampled_from(["acct"] * 5 + ["other", ""]),
       client_id=st.sampled_from([CLIENT_ID] * 5 + ["x"]), signature=header_values,
       content_type=st.sampled_from(["application/json"] * 4 + ["application/x-www-form-urlencoded", ""]))
def test_webhook_bridge_never_5xx_and_publishes_only_what_it_accepts(body: bytes, sign_it: bool, account: str,
                                                                     client_id: str, signature: str,
                                                                     content_type: str) -> None:
    settings_ = WebhookBridgeSettings(liveengage_accounts={"acct": {"client_id": CLIENT_ID,
                                                                    "client_secret": CLIENT_SECRET}},
                                      account_burst=10**9)
    headers = {"content-type": content_type, "x-liveperson-account-id": account,
               "x-liveperson-client-id": client_id,
               "x-liveperson-signature": Signing().header(CLIENT_SECRET, body) if sign_it else signature}

    async def post() -> tuple[httpx.Response, RecordingProducer]:
        producer = RecordingProducer()
        app = webhook_app(settings_)
        app.state.producer = producer
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
            return await client.post("/v1/liveengage/webhooks", content=body, headers=headers), producer

    response, producer = run(post())
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert producer.published == [] and response.json()["error"]
    else:
        assert response.status_code == 200
        assert sum(len(records) for _, records in producer.published) == response.json()["events"]


@settings(max_examples=EXAMPLES, deadline=None)
@given(body=st.binary(max_size=600), header=st.text(max_size=120), secret=st.text(min_size=1, max_size=40))
def test_signature_verifiers_only_accept_or_reject(body: bytes, header: str, secret: str) -> None:
    from adapters.generic import verify_signature as channel_verify
    from gateways.liveengage import signature as le_signature

    assert le_signature.verify(body, header, secret, ("base64", "hex")) in (True, False)
    assert channel_verify(body, header, secret) in (True, False)
    assert le_signature.verify(body, Signing().header(secret, body), secret)
