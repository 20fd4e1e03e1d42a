"""Bounded retries of retriable outbound calls, with exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streams import metrics
from streams.errors import AMBIGUOUS_NOTE, RemoteUnavailableError, StreamsError

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def with_retries(call: Callable[[], Awaitable[T]], *, attempts: int, base_delay_s: float, what: str) -> T:
    """Await ``call()``; on a retriable error wait ``base_delay_s * 2**n`` and try again, ``attempts`` times in all.

    Re-raises the last error when every attempt failed, and any non-retriable error at once. This blocks the
    caller's partition while it waits; it is meant for short outages, not long ones.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except StreamsError as exc:
            if not exc.retriable or attempt == attempts:
                exc.attempts = attempt
                raise
            delay = base_delay_s * 2 ** (attempt - 1)
            ambiguous = isinstance(exc, RemoteUnavailableError) and exc.ambiguous
            logger.warning("%s failed (%s)%s, attempt %d/%d; retrying in %.1fs", what, exc.__class__.__name__,
                           AMBIGUOUS_NOTE if ambiguous else "", attempt, attempts, delay)
            metrics.RETRIES.labels(what).inc()
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
