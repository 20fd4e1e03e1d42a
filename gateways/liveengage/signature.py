"""LiveEngage's ``x-liveperson-signature``: ``sha1=`` (or ``sha256=``) then the HMAC of the raw body.

The key is the app installation's client secret; the digest is Base64 by default, hex on accounts switched to it.
The HMAC is always taken over the exact bytes received, never a re-serialisation of the parsed JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection

HEADER = "x-liveperson-signature"
ACCOUNT_HEADER = "x-liveperson-account-id"
CLIENT_HEADER = "x-liveperson-client-id"

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


def verify(raw_body: bytes, header_value: str | None, client_secret: str,
           encodings: Collection[str] = ("base64",)) -> bool:
    """True when the header signs ``raw_body`` under ``client_secret`` in one of ``encodings``; never raises."""
    if not header_value:
        return False
    algorithm, _, received = header_value.partition("=")  # the first '=' only: Base64 ends in '=' padding
    digestmod = _DIGESTS.get(algorithm.strip().lower())
    if digestmod is None:
        return False
    digest = hmac.new(client_secret.encode(), raw_body, digestmod).digest()
    candidates = {"base64": base64.b64encode(digest).decode(), "hex": digest.hex()}
    received_bytes = received.strip().encode("utf-8", "replace")
    return any(hmac.compare_digest(received_bytes, candidates[name].encode())
               for name in encodings if name in candidates)
