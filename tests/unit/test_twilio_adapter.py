"""The Twilio adapter on bytes, and the channel bridge with it in process (row 10: a signature behind a proxy).

The request signer here is the channel sandbox's (emulators.channel.twilio), written apart from the adapter's
verifier, and Twilio's own published test vector checks both.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest

from adapters import bind, load
from adapters.base import InboundRequest, InputError
from adapters.twilio import signature as adapter_signature
from emulators.channel.twilio import signature as sandbox_signature
from gateways.channel.app import create_app as channel_app
from gateways.settings import ChannelBridgeSettings
from tests.unit.test_bridges import RecordingProducer, client_for

SID, TOKEN, NUMBER = "AC" + "0" * 32, "auth-token-1", "+15550100"
CHANNEL = {"adapter": "twilio", "account_id": "acct", "account_sid": SID, "auth_token": TOKEN, "number": NUMBER}
PUBLIC = "https://sms.brand.example"


def test_signature_matches_twilios_published_example() -> None:
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert adapter_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert sandbox_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def request_for(url: str, form: list[tuple[str, str]], *, token: str = TOKEN, signed_url: str | None = None,
                query: dict[str, str] | None = None) -> InboundRequest:
    headers = {"x-twilio-signature": sandbox_signature(signed_url or url, form, token)}
    return InboundRequest(url, headers, urllib.parse.urlencode(form).encode(), 1_700_000_000_000, query or {})


def sms_form(**fields: str) -> list[tuple[str, str]]:
    base = {"MessageSid": "SM" + "1" * 32, "AccountSid": SID, "From": "+491701234567", "To": NUMBER,
            "Body": "hello", "NumMedia": "0"} | fields
    return list(base.items())


def test_verification_covers_url_body_and_token() -> None:
    binding = bind(CHANNEL)
    url = f"{PUBLIC}/v1/channels/sms/messages"
    assert binding.adapter.verify(binding.config, request_for(url, sms_form()))
    assert binding.adapter.verify(binding.config, request_for(url, sms_form(), signed_url=url.replace(
        "example/", "example:443/")))  # Twilio's SDKs accept the default port written out
    assert not binding.adapter.verify(binding.config, request_for(url, sms_form(), token="other"))
    assert not binding.adapter.verify(binding.config, request_for(url, sms_form(), signed_url=url + "?x=1"))
    tampered = request_for(url, sms_form())
    assert not binding.adapter.verify(binding.config, InboundRequest(
        url, tampered.headers, tampered.body.replace(b"hello", b"hellO"), tampered.received_ms))


def test_during_a_rotation_the_previous_auth_token_still_verifies() -> None:
    binding = bind(CHANNEL | {"auth_token": "the-new-token", "previous_auth_token": CHANNEL["auth_token"]})
    url = f"{PUBLIC}/v1/channels/sms/messages"
    assert binding.adapter.signed_with(binding.config, request_for(url, sms_form())) == "previous"
    assert binding.adapter.signed_with(binding.config, request_for(url, sms_form(), token="the-new-token")) == "current"
    assert binding.adapter.signed_with(binding.config, request_for(url, sms_form(), token="other")) is None
    assert binding.config.auth_token.get_secret_value() == "the-new-token"  # sends use the current one


def test_sms_and_mms_become_text_and_file_events() -> None:
    binding = bind(CHANNEL)
    form = sms_form(NumMedia="2", MediaUrl0="https://media.example/a", MediaContentType0="image/jpeg",
                    MediaUrl1="https://media.example/b", MediaContentType1="image/png")
    events = binding.adapter.parse(binding.config, "messages", request_for("https://x/y", form))
    assert [(e["kind"], e["event_id"][-7:]) for e in events] == [("TEXT", "1" * 7), ("FILE", ":media0"),
                                                                 ("FILE", ":media1")]
    assert events[0]["text"] == "hello" and events[0]["consumer_id"] == "+491701234567"
    assert events[2]["file"] == {"url": "https://media.example/b", "content_type": "image/png", "caption": None}


@pytest.mark.parametrize(("form", "field"), [
    (sms_form(To="+15559999"), "To"),  # another brand's number: not this channel
    (sms_form(AccountSid="AC" + "9" * 32), "AccountSid"),
    (sms_form(MessageSid=""), "MessageSid"),
    (sms_form(NumMedia="11"), "NumMedia"),
    (sms_form(NumMedia="1"), "MediaUrl0"),
])
def test_bad_forms_name_the_field(form: list[tuple[str, str]], field: str) -> None:
    binding = bind(CHANNEL)
    with pytest.raises(InputError) as raised:
        binding.adapter.parse(binding.config, "messages", request_for("https://x/y", form))
    assert raised.value.fields[0]["field"] == field


@pytest.mark.parametrize(("status", "receipt"), [("delivered", "delivered"), ("read", "read"),
                                                 ("undelivered", "failed"), ("failed", "failed"),
                                                 ("queued", None), ("sent", None)])
def test_status_callbacks(status: str, receipt: str | None) -> None:
    binding = bind(CHANNEL)
    form = [("MessageSid", "SM" + "2" * 32), ("AccountSid", SID), ("From", NUMBER), ("To", "+4917"),
            ("MessageStatus", status)]
    events = binding.adapter.parse(binding.config, "status", request_for("https://x/y", form,
                                                                         query={"message_id": "conv:7"}))
    if receipt is None:
        assert events == []
    else:
        (event,) = events
        assert (event["kind"], event["receipt_status"], event["receipt_message_ids"], event["consumer_id"]) == (
            "RECEIPT", receipt, ["conv:7"], "+4917")


def outbound(text: str, kind: str = "TEXT") -> dict[str, Any]:
    return {"message_id": "conv:3", "channel_id": "sms", "consumer_id": "+4917", "conversation_id": "conv",
            "kind": kind, "text": text, "sequence": 3, "choices": [], "receipt_status": None,
            "receipt_message_ids": [], "typing": None, "notice": None}


def test_outbound_text_is_one_messages_api_call_with_a_status_callback() -> None:
    binding = bind(CHANNEL | {"api_url": "https://api.twilio.test/"})
    (call,) = binding.adapter.outbound(binding.config, outbound("On its way"), "https://b/status?message_id=conv:3")
    assert call.url == f"https://api.twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
    assert call.headers["Authorization"].startswith("Basic ") and call.json is None
    assert call.form == [("To", "+4917"), ("From", NUMBER), ("Body", "On its way"),
                         ("StatusCallback", "https://b/status?message_id=conv:3")]
    assert binding.adapter.outbound(binding.config, outbound("", kind="TYPING"), None) == []


def test_unknown_adapter_and_bad_settings_are_named_without_secrets() -> None:
    with pytest.raises(ValueError, match="no channel adapter named 'telepathy'"):
        load("telepathy")
    with pytest.raises(ValueError, match="account_sid") as raised:
        bind({"adapter": "twilio", "auth_token": "s3cr3t-value", "number": NUMBER})
    assert "s3cr3t-value" not in str(raised.value)


async def post_form(settings: ChannelBridgeSettings, producer: RecordingProducer, signed_url: str,
                    headers: dict[str, str] | None = None) -> httpx.Response:
    form = sms_form()
    body = urllib.parse.urlencode(form)
    async with client_for(channel_app(settings), producer) as client:
        return await client.post("/v1/channels/sms/messages", content=body, headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": sandbox_signature(signed_url, form, TOKEN)} | (headers or {}))


async def test_row_10_behind_a_proxy_the_configured_public_url_is_what_verifies() -> None:
    """Twilio signs the public URL it called (https, the brand's host); a proxy forwards the request to the
    bridge over plain HTTP on another host. Only the configured public URL makes the signature check out."""
    public = f"{PUBLIC}/v1/channels/sms/messages"
    proxied = {"x-forwarded-proto": "https", "x-forwarded-host": "sms.brand.example"}
    configured = ChannelBridgeSettings(channels={"sms": CHANNEL}, channel_bridge_public_url=PUBLIC)
    producer = RecordingProducer()
    accepted = await post_form(configured, producer, public, proxied)
    assert accepted.status_code == 200 and accepted.headers["content-type"].startswith("text/xml")
    assert len(producer.published) == 1

    # Signed for the internal URL the proxy used: not what Twilio signs, refused.
    refused = await post_form(configured, producer, "http://bridge/v1/channels/sms/messages", proxied)
    # No public URL configured: the bridge checks its own view of the URL, which Twilio never signed.
    unconfigured = await post_form(ChannelBridgeSettings(channels={"sms": CHANNEL}), producer, public, proxied)
    assert (refused.status_code, unconfigured.status_code) == (401, 401)
    assert refused.json()["error"] == "unauthorized" and len(producer.published) == 1  # nothing more produced


async def test_form_posted_as_json_is_415() -> None:
    producer = RecordingProducer()
    settings = ChannelBridgeSettings(channels={"sms": CHANNEL})
    async with client_for(channel_app(settings), producer) as client:
        response = await client.post("/v1/channels/sms/messages", json={"Body": "x"})
    assert response.status_code == 415 and producer.published == []


def test_an_agent_file_is_an_mms_with_its_caption() -> None:
    binding = bind(CHANNEL)
    message = outbound("the label", kind="FILE") | {"file_url": "https://swift.test/v1/f.PNG?sig=1", "file_type": "image/png"}
    (call,) = binding.adapter.outbound(binding.config, message, None)
    assert call.form == [("To", "+4917"), ("From", NUMBER), ("Body", "the label"),
                         ("MediaUrl", "https://swift.test/v1/f.PNG?sig=1")]
    (bare,) = binding.adapter.outbound(binding.config, message | {"text": None}, None)
    assert ("MediaUrl", "https://swift.test/v1/f.PNG?sig=1") in bare.form and not any(k == "Body" for k, _ in bare.form)
