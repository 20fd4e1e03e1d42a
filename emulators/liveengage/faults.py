"""Fault injection for the Send API, so tests and people can see how a connector copes with LiveEngage failing.

A fault applies to the next ``count`` matching Send API calls (``endpoint`` conversation, send or any; optionally
only one consumer's): answer ``status`` (with ``Retry-After`` for 429), or wait ``delay_s`` before handling the
call normally (a slow LiveEngage: a client that times out does not know whether the call took effect), or
``reset``: handle the call, then drop the connection halfway through the answer (a proxy or a LiveEngage node
failing; the call took effect but the client cannot know). Like LiveEngage, the sandbox does not deduplicate:
a client that retries after a timeout or a reset sends the event twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


@dataclass
class Fault:
    endpoint: str = "any"
    count: int = 1
    status: int | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0
    reset: bool = False
    ext_consumer_id: str | None = None

    def matches(self, endpoint: str, ext_consumer_id: str | None) -> bool:
        return self.endpoint in ("any", endpoint) and self.ext_consumer_id in (None, ext_consumer_id)

    def answer(self) -> JSONResponse | None:
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        body = {"code": "BAD_REQUEST" if self.status < 500 else "INTERNAL_ERROR",
                "body": {"msg": f"injected fault {self.status}"}}
        return JSONResponse(body, status_code=self.status, headers=headers)


class ConnectionDropped(Exception):
    """Raised after half an answer was sent: the server closes the connection, as it does for any app error."""


class CutAnswer(Response):
    """The head of ``answer`` and half its body, then the connection drops."""

    def __init__(self, answer: Response) -> None:
        super().__init__()
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.answer.body)
        await send({"type": "http.response.start", "status": self.answer.status_code,
                    "headers": self.answer.raw_headers})
        await send({"type": "http.response.body", "body": body[:len(body) // 2], "more_body": True})
        raise ConnectionDropped("sandbox fault 'reset': connection dropped after the call was handled")


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []
        self.injected = 0

    def take(self, endpoint: str, ext_consumer_id: str | None) -> Fault | None:
        """The first fault for this call, counted down; ``None`` when the call is to be handled normally."""
        for fault in self.active:
            if fault.matches(endpoint, ext_consumer_id):
                fault.count -= 1
                if fault.count <= 0:
                    self.active.remove(fault)
                self.injected += 1
                return fault
        return None

    def routes(self) -> list[Route]:
        return [Route("/sandbox/faults", self.endpoint, methods=["GET", "POST", "DELETE"])]

    async def endpoint(self, request: Request) -> JSONResponse:
        """POST a fault (see the module doc), GET the active ones, DELETE them all."""
        if request.method == "POST":
            try:
                fields: Any = json.loads(await request.body())
                fault = Fault(**fields)
            except (json.JSONDecodeError, TypeError) as exc:
                return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
            self.active.append(fault)
        elif request.method == "DELETE":
            self.active.clear()
        return JSONResponse({"active": [vars(f) for f in self.active], "injected": self.injected})
