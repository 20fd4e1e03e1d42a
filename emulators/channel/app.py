"""The channel gateway sandbox ASGI app.

As a gateway of the generic channel API it receives the connector's outbound messages (``POST
/v1/outbound/messages`` with a bearer token) and signs the consumer's inbound messages (``X-Channel-Signature:
sha256=<hex HMAC-SHA256 of the body>``) before posting them to the connector's channel bridge. For Twilio
channels it plays Twilio (``emulators.channel.twilio``). The ``/sandbox`` routes let a person or a test play the
consumer on any of its channels and see what the consumer received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.channel.twilio import TwilioNumber, TwilioSide


@dataclass(frozen=True)
class ChannelConfig:
    channel_id: str
    bridge_url: str
    signing_secret: str
    outbound_token: str
    public_url: str = "http://127.0.0.1:8091"  # where the connector fetches files consumers share


OUTBOUND_TYPES = ("text", "notice", "receipt", "typing", "file")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create_app(config: ChannelConfig, twilio_numbers: list[TwilioNumber] | None = None) -> Starlette:
    outbox: list[dict[str, Any]] = []
    seen: set[str] = set()
    files: dict[str, tuple[bytes, str]] = {}
    http: dict[str, httpx.AsyncClient] = {}
    twilio = TwilioSide(twilio_numbers or [], outbox.append, lambda: http["client"])

    def authorized(request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return secrets.compare_digest(token.encode(), config.outbound_token.encode())

    def may_fetch_files(request: Request) -> bool:
        """The generic gateway's bearer token, or Basic auth of any Twilio account the sandbox plays."""
        basic = request.headers.get("authorization", "")
        return authorized(request) or any(secrets.compare_digest(basic.encode(), (
            "Basic " + base64.b64encode(f"{n.account_sid}:{n.auth_token}".encode()).decode()).encode())
            for n in twilio.numbers)

    async def receive_outbound(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized", "detail": "bad bearer token"}, status_code=401)
        try:
            message = json.loads(await request.body())
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not all(isinstance(message.get(k), str) and message[k]
                                                    for k in ("message_id", "consumer_id")) \
                or message.get("type", "text") not in OUTBOUND_TYPES \
                or (message.get("type", "text") in ("text", "notice") and not message.get("text")) \
                or (message.get("type") == "file" and not isinstance((message.get("file") or {}).get("url"), str)):
            return JSONResponse({"error": "bad_request",
                                 "detail": "message_id, consumer_id, a known type and its fields are required"},
                                status_code=400)
        duplicate = message["message_id"] in seen
        seen.add(message["message_id"])
        outbox.append({**message, "channel_id": config.channel_id, "duplicate": duplicate,
                       "received_at": int(time.time() * 1000)})
        return JSONResponse({"status": "delivered", "duplicate": duplicate})

    async def show_outbox(request: Request) -> JSONResponse:
        consumer, channel = request.query_params.get("consumer_id"), request.query_params.get("channel_id")
        return JSONResponse({"messages": [m for m in outbox if consumer in (None, m["consumer_id"])
                                          and channel in (None, m["channel_id"])]})

    async def serve_file(request: Request) -> Response:
        if not may_fetch_files(request):
            return JSONResponse({"error": "unauthorized", "detail": "bad bearer token"}, status_code=401)
        found = files.get(request.path_params["file_id"])
        if found is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(found[0], media_type=found[1])

    async def consumer_sends(request: Request) -> JSONResponse:
        """The consumer does something; the gateway signs it and posts it to the channel bridge.

        ``{"type"?: "text", "text", "profile"?, "message_id"?}``, or any other type of the generic channel API
        with its field (``receipt``, ``typing``, ``survey``, ``close``). For ``file``:
        ``{"type": "file", "file": {"data_base64", "content_type", "caption"?}}``: the sandbox hosts the bytes and
        sends their URL.
        """
        try:
            wanted = json.loads(await request.body())
        except json.JSONDecodeError:
            wanted = None
        if not isinstance(wanted, dict):
            return JSONResponse({"error": "bad_request", "detail": "body must be a JSON object"}, status_code=400)
        consumer = request.path_params["consumer_id"]
        message = {key: value for key, value in wanted.items() if key != "message_id"}
        message.update(message_id=wanted.get("message_id") or f"m-{uuid.uuid4()}",
                       consumer_id=consumer, timestamp=int(time.time() * 1000))
        shared = wanted.get("file")
        if isinstance(shared, dict) and "data_base64" in shared:
            file_id = uuid.uuid4().hex
            files[file_id] = (base64.b64decode(shared["data_base64"]), str(shared.get("content_type")))
            message["file"] = {"url": f"{config.public_url}/sandbox/files/{file_id}",
                               "content_type": shared.get("content_type"), "caption": shared.get("caption")}
        number = twilio.number_of(request.query_params.get("channel_id", config.channel_id))
        if number is not None:
            media = [(message["file"]["url"], message["file"]["content_type"])] if "file" in message else []
            try:
                sid, response = await twilio.consumer_sends(number, consumer, str(wanted.get("text") or ""), media)
            except httpx.HTTPError as exc:
                return JSONResponse({"bridge_status": None, "bridge_error": exc.__class__.__name__}, status_code=502)
            return JSONResponse({"message_id": sid, "bridge_status": response.status_code,
                                 "bridge_body": response.text})
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        url = f"{config.bridge_url}/v1/channels/{config.channel_id}/messages"
        headers = {"content-type": "application/json", "x-channel-signature": sign(body, config.signing_secret)}
        try:
            response = await http["client"].post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return JSONResponse({"message_id": message["message_id"], "bridge_status": None,
                                 "bridge_error": exc.__class__.__name__}, status_code=502)
        return JSONResponse({"message_id": message["message_id"], "bridge_status": response.status_code,
                             "bridge_body": response.json() if response.content else None})

    async def list_channels(request: Request) -> JSONResponse:
        """The channels a consumer can act on here: the generic gateway's, then each Twilio number's."""
        return JSONResponse({"channels": [{"channel_id": config.channel_id, "kind": "generic"}] + [
            {"channel_id": n.channel_id, "kind": "twilio", "number": n.number} for n in twilio.numbers]})

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        http["client"] = httpx.AsyncClient(timeout=10.0)
        try:
            yield
        finally:
            await http.pop("client").aclose()

    routes = [
        Route("/v1/outbound/messages", receive_outbound, methods=["POST"]),
        Route("/sandbox/outbox", show_outbox),
        Route("/sandbox/channels", list_channels),
        Route("/sandbox/consumers/{consumer_id}/messages", consumer_sends, methods=["POST"]),
        Route("/sandbox/files/{file_id}", serve_file),
        Route("/livez", livez),
        *twilio.routes(),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
