"""Twilio Programmable Messaging (SMS and MMS), or any gateway that speaks its webhook and Messages API shapes.

Inbound: Twilio POSTs ``application/x-www-form-urlencoded`` to the number's webhook URL,
``/v1/channels/{channel_id}/messages``, with ``MessageSid``, ``AccountSid``, ``From``, ``To``, ``Body`` and,
for MMS, ``NumMedia`` with ``MediaUrl{N}``/``MediaContentType{N}``. Status callbacks come to
``/v1/channels/{channel_id}/status?message_id=<the connector's message id>`` with ``MessageSid`` and
``MessageStatus``. Both carry ``X-Twilio-Signature``: base64 HMAC-SHA1, under the account's auth token, of the
exact public URL Twilio called followed by every form parameter as name + value, sorted by name. Behind a
proxy or ingress the bridge must be told that public URL (``LEC_CHANNEL_BRIDGE_PUBLIC_URL``): the URL the
bridge sees is not the one Twilio signed.

Outbound: ``POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` with Basic auth (account SID,
auth token) and form fields ``To``, ``From`` (or ``MessagingServiceSid``), ``Body``, ``StatusCallback``. A text
longer than ``max_segments`` SMS (GSM-7 or UCS-2 counted, see ``adapters.sms``) or 1,600 characters, Twilio's
limit, goes as several messages cut between words.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from typing import Any

from pydantic import Field, SecretStr

from adapters import sms
from adapters.base import (MESSAGES_HOOK, STATUS_HOOK, AdapterConfig, Answer, Capabilities, ChannelAdapter,
                           InboundRequest, InputError, OutboundCall, inbound_event)

SIGNATURE_HEADER = "x-twilio-signature"
MAX_BODY_CHARS = 1600
MAX_MEDIA = 10
UNSUBSCRIBED_ERROR = 21610  # "Attempt to send to unsubscribed recipient": the consumer texted STOP to Twilio
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's MessageStatus values that mean something to the agent; the others (queued, sending, sent, ...) do not.
STATUSES = {"delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}


class TwilioConfig(AdapterConfig):
    account_sid: str = Field(pattern=r"^AC\w{8,64}$", description="the Twilio account (AC...)")
    auth_token: SecretStr = Field(description="the account's auth token: signs webhooks, authenticates sends")
    previous_auth_token: SecretStr | None = Field(default=None, description="during a rotation, the token being "
                                                  "replaced: webhooks it signs are accepted too until removed")
    number: str = Field(pattern=r"^(whatsapp:)?\+[1-9]\d{4,14}$", description="this channel's number, E.164")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG\w{8,64}$",
                                              description="send from this Messaging Service instead of the number")
    api_url: str = Field(default="https://api.twilio.com", description="Twilio's REST API (the sandbox in tests)")
    max_segments: int = Field(default=10, ge=1, le=10, description="SMS segments per sent message")


def signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    """Twilio's X-Twilio-Signature for a form POST to ``url``."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, and without or with its scheme's default port: Twilio's SDKs accept each."""
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname
    if default is None or not host or parts.port not in (None, default):
        return [url]
    variants = [url, parts._replace(netloc=host).geturl(), parts._replace(netloc=f"{host}:{default}").geturl()]
    return list(dict.fromkeys(variants))


def form_params(body: bytes) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"body is not a URL-encoded form: {exc.__class__.__name__}") from exc


def required(form: dict[str, str], name: str, pattern: str = r"^.+$") -> str:
    value = form.get(name, "")
    if not re.match(pattern, value):
        raise InputError(f"form field {name} is missing or malformed", [{"field": name, "problem": "required"}])
    return value


def same_number(configured: str, given: str) -> bool:
    return configured.removeprefix("whatsapp:") == given.removeprefix("whatsapp:")


class TwilioAdapter(ChannelAdapter[TwilioConfig]):
    name = "twilio"
    config_model = TwilioConfig
    content_type = "application/x-www-form-urlencoded"
    hooks = (MESSAGES_HOOK, STATUS_HOOK)

    def capabilities(self, config: TwilioConfig) -> Capabilities:
        return Capabilities(media=True, receipts=False, typing=False, max_text_chars=MAX_BODY_CHARS,
                            opt_out_keywords=True)

    def verify(self, config: TwilioConfig, request: InboundRequest) -> bool:
        received = request.headers.get(SIGNATURE_HEADER)
        if not received:
            return False
        try:
            params = form_params(request.body)
        except InputError:
            return False
        token = config.auth_token.get_secret_value()
        return any(hmac.compare_digest(signature(url, params, token).encode(), received.strip().encode())
                   for url in url_variants(request.url))

    def rotated_out(self, config: TwilioConfig) -> TwilioConfig | None:
        if config.previous_auth_token is None:
            return None
        return config.model_copy(update={"auth_token": config.previous_auth_token, "previous_auth_token": None})

    def parse(self, config: TwilioConfig, hook: str, request: InboundRequest) -> list[dict[str, Any]]:
        form = dict(form_params(request.body))
        sid = required(form, "MessageSid", r"^[A-Z]{2}\w{8,64}$")
        if required(form, "AccountSid") != config.account_sid:
            raise InputError("AccountSid is not this channel's account", [{"field": "AccountSid",
                                                                            "problem": "another account"}])
        ours, consumer = ("To", "From") if hook == MESSAGES_HOOK else ("From", "To")
        if not same_number(config.number, required(form, ours)) and not form.get("MessagingServiceSid"):
            raise InputError(f"{ours} is not this channel's number", [{"field": ours, "problem": "another number"}])
        consumer_id = required(form, consumer, r"^(whatsapp:)?\+?\w{3,20}$")
        if hook == STATUS_HOOK:
            return self._status(sid, consumer_id, form, request)
        return self._message(sid, consumer_id, form, request.received_ms)

    @staticmethod
    def _message(sid: str, consumer_id: str, form: dict[str, str], received_ms: int) -> list[dict[str, Any]]:
        events = []
        text = form.get("Body", "")
        if text:
            events.append(inbound_event(sid, consumer_id, "TEXT", received_ms, text=text[:4000]))
        count = form.get("NumMedia", "0")
        if not count.isdigit() or int(count) > MAX_MEDIA:
            raise InputError("NumMedia must be 0 to 10", [{"field": "NumMedia", "problem": "out of range"}])
        for index in range(int(count)):
            url = required(form, f"MediaUrl{index}", r"^https?://")
            content_type = required(form, f"MediaContentType{index}").lower()
            events.append(inbound_event(f"{sid}:media{index}", consumer_id, "FILE", received_ms,
                                        file={"url": url, "content_type": content_type, "caption": None}))
        return events

    @staticmethod
    def _status(sid: str, consumer_id: str, form: dict[str, str], request: InboundRequest) -> list[dict[str, Any]]:
        status = STATUSES.get(required(form, "MessageStatus"))
        if status is None:
            return []  # queued, sent and the like: nothing the agent needs
        message_id = request.query.get("message_id")
        if not message_id:
            raise InputError("the status callback URL has no message_id", [{"field": "message_id",
                                                                             "problem": "required in the query"}])
        return [inbound_event(f"{sid}:{status}", consumer_id, "RECEIPT", request.received_ms,
                              receipt_status=status, receipt_message_ids=[message_id],
                              attributes={"error_code": form.get("ErrorCode", "")} if status == "failed" else {})]

    def answer(self, hook: str, events: list[dict[str, Any]]) -> Answer:
        return Answer(200, "text/xml", EMPTY_TWIML)

    def outbound(self, config: TwilioConfig, message: dict[str, Any], status_url: str | None) -> list[OutboundCall]:
        url = f"{config.api_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        sender = [("MessagingServiceSid", config.messaging_service_sid)] if config.messaging_service_sid \
            else [("From", config.number)]
        callback = [("StatusCallback", status_url)] if status_url and message["kind"] in ("TEXT", "FILE") else []
        if message["kind"] == "FILE" and message["file_url"]:
            # An MMS: Body may be empty when MediaUrl is given (Twilio's Message resource, "Create a Message").
            caption = [("Body", message["text"][:MAX_BODY_CHARS])] if message["text"] else []
            return [OutboundCall(url, self.file_headers(config), form=[
                ("To", message["consumer_id"]), *sender, *caption, ("MediaUrl", message["file_url"]), *callback])]
        if message["kind"] not in ("TEXT", "NOTICE") or not message["text"]:
            return []  # SMS shows no receipts or typing
        parts = sms.split(message["text"], max_segments=config.max_segments, max_chars=MAX_BODY_CHARS)
        return [OutboundCall(url, self.file_headers(config),
                             form=[("To", message["consumer_id"]), *sender, ("Body", part), *callback])
                for part in parts]

    def refused_as_opted_out(self, status: int, body: bytes) -> bool:
        try:
            answer = json.loads(body)
        except ValueError:
            return False
        return status == 400 and isinstance(answer, dict) and answer.get("code") == UNSUBSCRIBED_ERROR

    def file_headers(self, config: TwilioConfig) -> dict[str, str]:
        credentials = f"{config.account_sid}:{config.auth_token.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


ADAPTER = TwilioAdapter()
