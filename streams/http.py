"""The worker's outbound HTTP client (aiohttp: httpx's connection pool was 20-77x slower on loopback, and httpx's
API on the aiohttp transport still cost half the sender's throughput in ``make bench``), and one translation of
transport errors."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from streams import metrics
from streams.errors import RemoteRejectedError, RemoteUnavailableError


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read to the end."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class Proxies:
    """The proxy each host is reached through: HTTPS_PROXY/HTTP_PROXY unless NO_PROXY names the host, as behind a
    corporate proxy (a proxy's own CA comes with SSL_CERT_FILE, which OpenSSL reads).

    Read from the environment once per host: aiohttp's ``trust_env`` reads the environment and ``~/.netrc`` again
    on every request (about 5% of the worker's CPU in ``make bench``'s profile)."""

    def __init__(self) -> None:
        self._environment = urllib.request.getproxies_environment()
        self._chosen: dict[tuple[str, str], tuple[str | None, aiohttp.BasicAuth | None]] = {}

    def of(self, url: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._chosen:
            proxy = self._environment.get(parts.scheme)
            if proxy and self._bypassed(key[1]):
                proxy = None
            auth = aiohttp.BasicAuth.from_url(URL(proxy)) if proxy else None  # credentials in the proxy's URL
            self._chosen[key] = (proxy or None, auth)
        return self._chosen[key]


    def _bypassed(self, host: str) -> bool:
        """Whether NO_PROXY names ``host``: ``*``, the host itself, or a domain it is in (as urllib reads it)."""
        for entry in self._environment.get("no", "").split(","):
            name = entry.strip().lstrip(".").lower()
            if name == "*" or name and (host.lower() == name or host.lower().endswith("." + name)):
                return True
        return False


class HttpClient:
    """One connection pool for every outbound call; the session is opened on first use, inside the event loop."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()

    async def send(self, method: str, url: str, *, params: Mapping[str, str] | None = None, json: Any = None,
                   data: Mapping[str, str] | bytes | None = None, headers: Mapping[str, str] | None = None,
                   follow_redirects: bool = False) -> Answer:
        """Send one request and read its answer; aiohttp's errors propagate (see ``request``)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0))
        proxy, proxy_auth = self._proxies.of(url)
        async with self._session.request(method, url, params=params, json=json, data=data, headers=headers,
                                         allow_redirects=follow_redirects, proxy=proxy,
                                         proxy_auth=proxy_auth) as answer:
            return Answer(answer.status, answer.headers, await answer.read())

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def new_client(timeout_s: float) -> HttpClient:
    return HttpClient(timeout_s)


async def request(client: HttpClient, method: str, url: str, *, what: str, **kwargs: Any) -> Answer:
    """Send one request; connection errors and timeouts become ``RemoteUnavailableError``.

    Only a connection that could not be made proves the request was never handled. After a timeout or a
    connection lost mid-answer the remote may have carried the call out, so the error is marked ``ambiguous``: a
    retry can duplicate it, and LiveEngage has no idempotency key to prevent that.

    Returns every HTTP answer as it is; callers decide what a status means (see ``raise_for_status``).
    """
    try:
        answer = await client.send(method, url, **kwargs)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        metrics.HTTP_CALLS.labels(what, exc.__class__.__name__).inc()
        unsent = isinstance(exc, aiohttp.ClientConnectorError)
        raise RemoteUnavailableError(f"{what}: {exc.__class__.__name__}", ambiguous=not unsent) from exc
    metrics.HTTP_CALLS.labels(what, str(answer.status_code)).inc()
    return answer


def raise_for_status(response: Answer, *, what: str) -> None:
    """429, 5xx → retriable ``RemoteUnavailableError``; other 4xx → ``RemoteRejectedError``."""
    status = response.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        raise RemoteUnavailableError(f"{what}: HTTP {status}", retry_after_s=retry_after(response))
    raise RemoteRejectedError(f"{what}: HTTP {status}", status=status)


def json_body(response: Answer, *, what: str) -> Any:
    """The answer's JSON; a body that is not JSON is a ``RemoteRejectedError`` (a retry would not change it)."""
    try:
        return response.json()
    except ValueError as exc:
        raise RemoteRejectedError(f"{what}: answer is not JSON", status=response.status_code) from exc


def retry_after(response: Answer) -> float | None:
    """The answer's ``Retry-After`` in seconds (the delta-seconds form; an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
