"""Shared test helpers: waiting on a condition with a deadline (never a fixed sleep), channel settings."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
# The smallest PNG: one transparent pixel, for file-sharing tests.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def wait_until(probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last probe returned {last!r}")


async def wait_until_async(probe: Callable[[], Awaitable[T]], *, timeout: float, what: str,
                           interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last probe returned {last!r}")


def generic_channel(secret: str, **settings: Any) -> dict[str, Any]:
    """A channel on the generic adapter, as one LEC_CHANNELS entry (the outbound side unused by bridge tests)."""
    return {"adapter": "generic", "secret": secret, "outbound_url": "http://gateway.invalid/out",
            "outbound_token": "unused"} | settings
