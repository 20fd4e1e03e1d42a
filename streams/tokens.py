"""Reading claims of LiveEngage's tokens. The connector never validates them: LiveEngage does that."""

from __future__ import annotations

import base64
import json
from typing import Any


def claims(token: str) -> dict[str, Any]:
    """The payload claims of a JWT/JWS, or ``{}`` when the token is not of that shape."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
