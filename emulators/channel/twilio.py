"""Twilio's side of Twilio channels in the sandbox: the Messages API, signed inbound webhooks, status callbacks.

As Twilio does: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes a form (``To``, ``From``,
``Body``, ``StatusCallback``) with Basic auth (account SID, auth token) and answers 201 with the message's
``sid``; it then reports ``sent`` and ``delivered`` (or ``undelivered`` with error 30003 for a consumer the
sandbox was told is unreachable) to the ``StatusCallback`` URL. A consumer who texted STOP is unsubscribed
until START: sends to them are refused with error 21610. Every webhook is a form POST signed with
``X-Twilio-Signature`` (base64 HMAC-SHA1 of the URL followed by the sorted parameters, under the auth token).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}


@dataclass(frozen=True)
class TwilioNumber:
    """One brand number at the sandbox's Twilio, and where its inbound messages are posted."""

    channel_id: str
    account_sid: str
    auth_token: str
    number: str
    webhook_url: str  # as configured for the number in Twilio's console: the connector's public URL


def signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class TwilioSide:
    numbers: list[TwilioNumber]
    record: Callable[[dict[str, Any]], None]  # puts a delivered message in the sandbox's outbox
    client: Callable[[], httpx.AsyncClient]
    unreachable: set[str] = field(default_factory=set)
    unsubscribed: set[tuple[str, str]] = field(default_factory=set)  # (brand number, consumer)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def number_of(self, channel_id: str) -> TwilioNumber | None:
        return next((n for n in self.numbers if n.channel_id == channel_id), None)

    def routes(self) -> list[Route]:
        return [Route("/2010-04-01/Accounts/{account_sid}/Messages.json", self.create_message, methods=["POST"]),
                Route("/sandbox/twilio/unreachable/{consumer_id}", self.make_unreachable,
                      methods=["POST", "DELETE"]),
                Route("/sandbox/twilio/unsubscribed/{consumer_id}", self.unsubscribe, methods=["POST"]),
                Route("/sandbox/twilio/callbacks", self.show_callbacks)]

    def _authorized(self, request: Request, account_sid: str) -> TwilioNumber | None:
        given = request.headers.get("authorization", "")
        for number in self.numbers:
            expected = "Basic " + base64.b64encode(f"{number.account_sid}:{number.auth_token}".encode()).decode()
            if number.account_sid == account_sid and secrets.compare_digest(given.encode(), expected.encode()):
                return number
        return None

    async def create_message(self, request: Request) -> JSONResponse:
        account_sid = request.path_params["account_sid"]
        if self._authorized(request, account_sid) is None:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        form = dict(urllib.parse.parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        sender = next((n for n in self.numbers if n.account_sid == account_sid and n.number == form.get("From")),
                      None)
        to, body, media = str(form.get("To", "")), str(form.get("Body", "")), form.get("MediaUrl")
        # Twilio's Message resource: Body is required unless MediaUrl is given (an MMS), at most 1,600 characters.
        if sender is None or not to or not (body or media) or len(body) > 1600:
            return JSONResponse({"code": 21602 if not body else 21606, "status": 400,
                                 "message": "From must be one of the account's numbers; To and Body (or MediaUrl) "
                                            "are required (Body at most 1600 characters)"}, status_code=400)
        if (sender.number, to) in self.unsubscribed:
            return JSONResponse({"code": 21610, "status": 400,
                                 "message": "Attempt to send to unsubscribed recipient"}, status_code=400)
        sid = new_sid("SM")
        self.record({"channel_id": sender.channel_id, "consumer_id": to, "type": "text", "text": body,
                     "message_id": sid, "received_at": int(time.time() * 1000),
                     **({"media_url": media} if media else {})})
        callback = form.get("StatusCallback")
        if isinstance(callback, str) and callback:
            task = asyncio.create_task(self._report(sender, sid, to, str(callback)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse({"sid": sid, "account_sid": account_sid, "from": sender.number, "to": to,
                             "body": body, "status": "queued", "num_segments": "1"}, status_code=201)

    async def _report(self, sender: TwilioNumber, sid: str, to: str, url: str) -> None:
        """Status callbacks after a send, as a carrier's reports would come: sent, then the outcome."""
        outcome = ("undelivered", "30003") if to in self.unreachable else ("delivered", "")
        for status, error in (("sent", ""), outcome):
            params = [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", sender.account_sid),
                      ("From", sender.number), ("To", to), ("MessageStatus", status), ("SmsStatus", status),
                      ("ApiVersion", "2010-04-01")] + ([("ErrorCode", error)] if error else [])
            headers = {"X-Twilio-Signature": signature(url, params, sender.auth_token)}
            try:
                response = await self.client().post(url, data=dict(params), headers=headers)
                answered: int | None = response.status_code
            except httpx.HTTPError:
                answered = None
            self.callbacks.append({"sid": sid, "status": status, "answered": answered})

    async def make_unreachable(self, request: Request) -> JSONResponse:
        consumer = request.path_params["consumer_id"]
        if request.method == "POST":
            self.unreachable.add(consumer)
        else:
            self.unreachable.discard(consumer)
        return JSONResponse({"unreachable": sorted(self.unreachable)})

    async def unsubscribe(self, request: Request) -> JSONResponse:
        """The consumer opted out at Twilio without the connector hearing of it (say, before it was deployed)."""
        consumer = request.path_params["consumer_id"]
        self.unsubscribed.update((number.number, consumer) for number in self.numbers)
        return JSONResponse({"unsubscribed": consumer})

    async def show_callbacks(self, request: Request) -> JSONResponse:
        return JSONResponse({"callbacks": self.callbacks})

    async def consumer_sends(self, number: TwilioNumber, consumer: str, text: str,
                             media: list[tuple[str, str]]) -> tuple[str, httpx.Response]:
        """The consumer texts the brand's number: Twilio posts the signed inbound webhook."""
        sid = new_sid("MM" if media else "SM")
        word = text.strip().upper()
        if word in STOP_WORDS:
            self.unsubscribed.add((number.number, consumer))
        elif word in START_WORDS:
            self.unsubscribed.discard((number.number, consumer))
        params = [("MessageSid", sid), ("SmsMessageSid", sid), ("SmsSid", sid), ("AccountSid", number.account_sid),
                  ("From", consumer), ("To", number.number), ("Body", text), ("NumMedia", str(len(media))),
                  ("NumSegments", "1"), ("ApiVersion", "2010-04-01")]
        for index, (url, content_type) in enumerate(media):
            params += [(f"MediaUrl{index}", url), (f"MediaContentType{index}", content_type)]
        headers = {"X-Twilio-Signature": signature(number.webhook_url, params, number.auth_token),
                   "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        return sid, await self.client().post(number.webhook_url, data=dict(params), headers=headers)
