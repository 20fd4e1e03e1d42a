"""The channel gateway sandbox ASGI app.

As a channel gateway it receives the connector's outbound messages (``POST /v1/outbound/messages`` with a bearer
token) and signs the consumer's inbound messages (``X-Channel-Signature: sha256=<hex HMAC-SHA256 of the body>``)
before posting them to the connector's channel bridge. The ``/sandbox`` routes let a person or a test play the
consumer and see what the consumer received.
"""

from __future__ import annotations

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
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass(frozen=True)
class ChannelConfig:
    channel_id: str
    bridge_url: str
    signing_secret: str
    outbound_token: str


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create_app(config: ChannelConfig) -> Starlette:
    outbox: list[dict[str, Any]] = []
    seen: set[str] = set()
    http: dict[str, httpx.AsyncClient] = {}

    async def receive_outbound(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(token.encode(), config.outbound_token.encode()):
            return JSONResponse({"error": "unauthorized", "detail": "bad bearer token"}, status_code=401)
        try:
            message = json.loads(await request.body())
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not all(isinstance(message.get(k), str) and message[k]
                                                    for k in ("message_id", "consumer_id", "text")):
            return JSONResponse({"error": "bad_request", "detail": "message_id, consumer_id and text are required"},
                                status_code=400)
        duplicate = message["message_id"] in seen
        seen.add(message["message_id"])
        outbox.append({**message, "duplicate": duplicate, "received_at": int(time.time() * 1000)})
        return JSONResponse({"status": "delivered", "duplicate": duplicate})

    async def show_outbox(request: Request) -> JSONResponse:
        consumer = request.query_params.get("consumer_id")
        return JSONResponse({"messages": [m for m in outbox if consumer in (None, m["consumer_id"])]})

    async def consumer_sends(request: Request) -> JSONResponse:
        """``{"text", "profile"?, "message_id"?}``: the consumer writes; the gateway signs and posts it."""
        try:
            wanted = json.loads(await request.body())
        except json.JSONDecodeError:
            wanted = None
        if not isinstance(wanted, dict) or not isinstance(wanted.get("text"), str):
            return JSONResponse({"error": "bad_request", "detail": "text is required"}, status_code=400)
        message = {
            "message_id": wanted.get("message_id") or f"m-{uuid.uuid4()}",
            "consumer_id": request.path_params["consumer_id"],
            "text": wanted["text"],
            "timestamp": int(time.time() * 1000),
        }
        if isinstance(wanted.get("profile"), dict):
            message["profile"] = wanted["profile"]
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
        Route("/sandbox/consumers/{consumer_id}/messages", consumer_sends, methods=["POST"]),
        Route("/livez", livez),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
