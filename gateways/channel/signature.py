"""The generic channel API's request signature: ``X-Channel-Signature: sha256=<hex HMAC-SHA256 of the raw body>``."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "x-channel-signature"


def verify(raw_body: bytes, header_value: str | None, secret: str) -> bool:
    """True when ``header_value`` is the HMAC-SHA256 of exactly ``raw_body`` under ``secret``; never raises."""
    if not header_value:
        return False
    algorithm, _, received = header_value.partition("=")
    if algorithm.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.strip().lower().encode(), expected.encode())
