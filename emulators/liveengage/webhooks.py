"""Webhook delivery as LiveEngage does it: one endpoint per event type, signed bodies, number-based retries.

Each notification is serialised once to compact JSON and signed over exactly those bytes with the app's client
secret: ``x-liveperson-signature: sha1=<Base64 HMAC-SHA1>`` by default (``sha256`` and hex are account options).
Only 200 and 201 count as delivered. Two retry policies, as LiveEngage documents them:

- number-based (per endpoint ``max_retries``, 0-5): a failed event is retried after ``retry_interval_s``
  (LiveEngage: 30 s) while other events go on, so order is not kept;
- time-to-live (the installation's ``retry.retention_time``): a failure holds back every later event of the app
  while the failed one is retried with exponential backoff (``ttl_first_delay_s``, doubling, at most 300 s), so
  order is kept; an event older than the retention time is dropped.

Every attempt is logged for the console.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from emulators.liveengage.store import MESSAGING, now_ms

logger = logging.getLogger(__name__)

MAX_TTL_DELAY_S = 300.0
SUBSCRIPTION_KEYS = (
    "ms.MessagingEventNotification.ContentEvent",
    "ms.MessagingEventNotification.RichContentEvent",
    "ms.MessagingEventNotification.AcceptStatusEvent",
    "ms.MessagingEventNotification.ChatStateEvent",
    "cqm.ExConversationChangeNotification",
)


@dataclass
class Endpoint:
    url: str
    max_retries: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Signing:
    algorithm: str = "sha1"  # or "sha256"
    encoding: str = "base64"  # or "hex"

    def header(self, secret: str, body: bytes) -> str:
        digest = hmac.new(secret.encode(), body, getattr(hashlib, self.algorithm)).digest()
        value = base64.b64encode(digest).decode() if self.encoding == "base64" else digest.hex()
        return f"{self.algorithm}={value}"


def subscription_key(notification: dict[str, Any]) -> str:
    if notification["type"] == MESSAGING:
        return f"{MESSAGING}.{notification['body']['changes'][0]['event']['type']}"
    return str(notification["type"])


class WebhookDispatcher:
    """Delivers notifications of one app installation to its registered endpoints, in the background."""

    def __init__(self, account_id: str, client_id: str, client_secret: str, *, signing: Signing,
                 retry_interval_s: float, timeout_s: float, ttl_first_delay_s: float = 2.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.account_id = account_id
        self.client_id = client_id
        self._secret = client_secret
        self.signing = signing
        self.retry_interval_s = retry_interval_s
        self.ttl_first_delay_s = ttl_first_delay_s
        self.retention_s: float | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._queue: asyncio.Queue[tuple[str, bytes, int, float]] = asyncio.Queue()
        self._timeout_s = timeout_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._worker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout_s), transport=self._transport)
        self._worker = asyncio.create_task(self._deliver_forever())

    async def stop(self) -> None:
        for task in [self._worker, *self._retries]:
            if task is not None:
                task.cancel()
        self._worker = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def register_all(self, url: str, max_retries: int) -> None:
        for key in SUBSCRIPTION_KEYS:
            self.endpoints[key] = Endpoint(url, max_retries)

    def emit(self, notification: dict[str, Any]) -> None:
        """Queue a notification for its event type's endpoint; dropped when that type has no endpoint."""
        key = subscription_key(notification)
        if key not in self.endpoints:
            return
        body = json.dumps(notification, separators=(",", ":"), ensure_ascii=False).encode()
        self._queue.put_nowait((key, body, 1, time.monotonic()))

    async def _deliver_forever(self) -> None:
        while True:
            key, body, attempt, emitted = await self._queue.get()
            if self.retention_s is not None:
                await self._deliver_within_retention(key, body, emitted, self.retention_s)
            else:
                await self._deliver(key, body, attempt, emitted)

    async def _deliver_within_retention(self, key: str, body: bytes, emitted: float, retention_s: float) -> None:
        delay, attempt = self.ttl_first_delay_s, 1
        while await self._attempt(key, body, attempt) is False:
            if time.monotonic() + delay - emitted > retention_s:
                logger.warning("webhook %s: dropped after the retention time (%d attempts)", key, attempt)
                return
            await asyncio.sleep(delay)
            delay, attempt = min(delay * 2, MAX_TTL_DELAY_S), attempt + 1

    async def _deliver(self, key: str, body: bytes, attempt: int, emitted: float) -> None:
        delivered = await self._attempt(key, body, attempt)
        endpoint = self.endpoints.get(key)
        if delivered is not False or endpoint is None:
            return
        if attempt <= endpoint.max_retries:
            logger.info("webhook %s failed; retry %d in %.1fs", key, attempt, self.retry_interval_s)
            task = asyncio.create_task(self._retry_later(key, body, attempt + 1, emitted))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        else:
            logger.warning("webhook %s failed; giving up after %d attempts", key, attempt)

    async def _attempt(self, key: str, body: bytes, attempt: int) -> bool | None:
        """POST once: True when answered 200/201, False on failure, None when the type is not registered."""
        endpoint = self.endpoints.get(key)
        if endpoint is None or self._client is None:
            return None
        headers = {
            "content-type": "application/json",
            "x-liveperson-account-id": self.account_id,
            "x-liveperson-client-id": self.client_id,
            "x-liveperson-signature": self.signing.header(self._secret, body),
            **{h["header_name"]: h["header_value"] for h in endpoint.headers},
        }
        started = now_ms()
        try:
            response = await self._client.post(endpoint.url, content=body, headers=headers)
            status: int | str = response.status_code
        except httpx.HTTPError as exc:
            status = exc.__class__.__name__
        self.deliveries.append({"index": len(self.deliveries), "subscription": key, "url": endpoint.url,
                                "attempt": attempt, "status": status, "started_at": started, "at": now_ms(),
                                "body": json.loads(body),
                                "raw": body.decode()})
        return status in (200, 201)

    async def redeliver(self, index: int) -> int | str | None:
        """Send an earlier delivery's exact bytes again, as LiveEngage does on a retry; return the answer."""
        if not 0 <= index < len(self.deliveries):
            return None
        earlier = self.deliveries[index]
        await self._attempt(earlier["subscription"], earlier["raw"].encode(), earlier["attempt"] + 1)
        status: int | str = self.deliveries[-1]["status"]
        return status

    async def _retry_later(self, key: str, body: bytes, attempt: int, emitted: float) -> None:
        await asyncio.sleep(self.retry_interval_s)
        await self._queue.put((key, body, attempt, emitted))
