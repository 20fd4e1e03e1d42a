"""The worker's outbound HTTP client: httpx's API on aiohttp's transport, and one translation of transport errors."""

from __future__ import annotations

from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from streams.errors import RemoteRejectedError, RemoteUnavailableError


def new_client(timeout_s: float) -> httpx.AsyncClient:
    """An httpx client on the aiohttp transport (httpcore's pool was 20-77x slower on loopback; measured.md)."""
    return httpx.AsyncClient(transport=AiohttpTransport(), timeout=timeout_s)


async def request(client: httpx.AsyncClient, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
    """Send one request; connection errors and timeouts become ``RemoteUnavailableError``.

    Only a refused connection proves the request was never handled. After a timeout or a connection lost
    mid-answer the remote may have carried the call out, so the error is marked ``ambiguous``: a retry can
    duplicate it, and LiveEngage has no idempotency key to prevent that. (The aiohttp transport reports a
    connection dropped after the request as ``ConnectTimeout``, so only ``ConnectError`` counts as unsent.)

    Returns every HTTP answer as it is; callers decide what a status means (see ``raise_for_status``).
    """
    try:
        return await client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        message = f"{what}: {exc.__class__.__name__}"
        raise RemoteUnavailableError(message, ambiguous=not isinstance(exc, httpx.ConnectError)) from exc


def raise_for_status(response: httpx.Response, *, what: str) -> None:
    """429, 5xx → retriable ``RemoteUnavailableError``; other 4xx → ``RemoteRejectedError``."""
    status = response.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        raise RemoteUnavailableError(f"{what}: HTTP {status}", retry_after_s=retry_after(response))
    raise RemoteRejectedError(f"{what}: HTTP {status}", status=status)


def json_body(response: httpx.Response, *, what: str) -> Any:
    """The answer's JSON; a body that is not JSON is a ``RemoteRejectedError`` (a retry would not change it)."""
    try:
        return response.json()
    except ValueError as exc:
        raise RemoteRejectedError(f"{what}: answer is not JSON", status=response.status_code) from exc


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds (the delta-seconds form; an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
