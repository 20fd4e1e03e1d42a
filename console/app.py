"""The sandbox console's ASGI app: one page (``console/static``) and the JSON API it calls.

The page plays the consumer through the channel sandbox and the agent through the LiveEngage sandbox (the API
passes their requests on, so the page has one origin and one token), watches flows live as server-sent events,
and lists and replays dead letters with the worker's own tool. With a token set, every request must carry it:
``Authorization: Bearer``, or the cookie the page sets when opened with ``?token=``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console.feed import FlowFeed
from kafkaclients import KafkaConnection
import deadletters

STATIC = Path(__file__).parent / "static"
AGENT_ACTIONS = ("messages", "receipts", "typing", "transfer", "close", "survey/close")
COOKIE = "lec_console_token"
KEEPALIVE_S = 15.0


@dataclass(frozen=True)
class ConsoleConfig:
    kafka: KafkaConnection
    liveengage_url: str
    channel_url: str
    partitions: int = 4
    app_id: str = "lec-worker"
    token: str | None = None  # required when the console listens beyond loopback


class TokenCheck(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._token = token.encode()

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path == "/livez":
            return await call_next(request)
        offered = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                   or request.cookies.get(COOKIE) or request.query_params.get("token") or "")
        if not secrets.compare_digest(offered.encode(), self._token):
            return JSONResponse({"error": "unauthorized", "detail": "open the console with ?token=<its token>"},
                                status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, offered, httponly=True, samesite="strict")
        return response


def create_app(config: ConsoleConfig) -> Starlette:
    feed = FlowFeed(config.kafka, config.partitions)
    clients: dict[str, httpx.AsyncClient] = {}

    async def relay(method: str, url: str, body: Any = None, params: dict[str, str] | None = None) -> JSONResponse:
        """Pass a request on to a sandbox and its answer back; 502 naming the sandbox when it cannot be reached."""
        try:
            answer = await clients["http"].request(method, url, json=body, params=params)
        except httpx.HTTPError as exc:
            return JSONResponse({"error": "sandbox_unreachable", "detail": f"{url}: {exc.__class__.__name__}"},
                                status_code=502)
        try:
            content = answer.json()
        except json.JSONDecodeError:
            content = {"error": "sandbox_error", "detail": answer.text[:500]}
        return JSONResponse(content, status_code=answer.status_code)

    async def json_body(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc.msg}") from exc

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def channels(request: Request) -> JSONResponse:
        return await relay("GET", f"{config.channel_url}/sandbox/channels")

    async def consumer_acts(request: Request) -> JSONResponse:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        consumer = request.path_params["consumer_id"]
        return await relay("POST", f"{config.channel_url}/sandbox/consumers/{consumer}/messages", body,
                           {"channel_id": request.query_params.get("channel_id", "")})

    async def consumer_inbox(request: Request) -> JSONResponse:
        return await relay("GET", f"{config.channel_url}/sandbox/outbox", params={
            "consumer_id": request.path_params["consumer_id"], "channel_id": request.query_params.get("channel_id", "")})

    async def conversations(request: Request) -> JSONResponse:
        return await relay("GET", f"{config.liveengage_url}/sandbox/conversations")

    async def agent_acts(request: Request) -> JSONResponse:
        action = request.path_params["action"]
        if action not in AGENT_ACTIONS:
            return JSONResponse({"error": "not_found", "detail": f"agent actions: {', '.join(AGENT_ACTIONS)}"},
                                status_code=404)
        try:
            body = await json_body(request)
        except ValueError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        conversation = request.path_params["conversation_id"]
        return await relay("POST", f"{config.liveengage_url}/sandbox/conversations/{conversation}/agent/{action}",
                           body)

    async def flows(request: Request) -> StreamingResponse:
        """Server-sent events: every flow known now, then each flow again whenever it changes."""
        queue = feed.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                for flow in feed.book.flows():
                    yield f"data: {json.dumps(flow.as_json())}\n\n"
                while True:
                    try:
                        flow_json = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield f"data: {json.dumps(flow_json)}\n\n"
            finally:
                feed.unsubscribe(queue)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def dead_letters(request: Request) -> JSONResponse:
        try:
            letters = await deadletters.read_letters(config.kafka, config.partitions, config.app_id)
        except KafkaError as exc:
            return JSONResponse({"error": "kafka_unavailable", "detail": exc.__class__.__name__}, status_code=503)
        return JSONResponse({"dead_letters": [letter | {"failed_at": letter["failed_at"].isoformat()}
                                              for letter in letters]})

    async def replay(request: Request) -> JSONResponse:
        try:
            source = str((await json_body(request)).get("source", ""))
            deadletters.source_spec(source)
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        try:
            count = await deadletters.replay(config.kafka, config.partitions, source, config.app_id)
        except KafkaError as exc:
            return JSONResponse({"error": "kafka_unavailable", "detail": exc.__class__.__name__}, status_code=503)
        return JSONResponse({"source": source, "replayed": count})

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        clients["http"] = httpx.AsyncClient(timeout=10.0)
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            await clients.pop("http").aclose()

    routes = [
        Route("/", page),
        Route("/livez", livez),
        Route("/api/channels", channels),
        Route("/api/consumers/{consumer_id}/actions", consumer_acts, methods=["POST"]),
        Route("/api/consumers/{consumer_id}/inbox", consumer_inbox),
        Route("/api/conversations", conversations),
        Route("/api/conversations/{conversation_id}/agent/{action:path}", agent_acts, methods=["POST"]),
        Route("/api/flows", flows),
        Route("/api/dead-letters", dead_letters),
        Route("/api/dead-letters/replay", replay, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TokenCheck, token=config.token)] if config.token else []
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
