"""Token-bucket rate limits of one bridge process, per key (a channel, a consumer number, an account).

Limits are per process: with N replicas the effective limit is N times higher. Keys are kept for the most
recently seen ``max_keys`` only, so a flood of distinct numbers cannot grow memory without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateways.errors import GatewayError


class RateLimitedError(GatewayError):
    http_status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``rate`` requests per second per key, in bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: float, *, what: str, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.what = what
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, *, rate: float | None = None, burst: float | None = None) -> None:
        """Spend one token of ``key``'s bucket; ``rate`` and ``burst`` override the defaults for this key.

        Raises:
            RateLimitedError: the bucket is empty; ``retry_after_s`` says when one token is back.
        """
        rate, burst = rate or self.rate, burst or self.burst
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / rate)
            raise RateLimitedError(f"too many requests for this {self.what}; retry in {wait}s", retry_after_s=wait)
        bucket.tokens -= 1
