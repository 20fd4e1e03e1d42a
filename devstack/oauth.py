"""An OAUTHBEARER token provider for the local secured broker only.

Kafka's default OAUTHBEARER validator accepts unsecured JWS tokens (``alg: none``, no signature): enough to run the
connector's OAUTHBEARER path end to end (``LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER=devstack.oauth:UnsecuredTokens``).
A real cluster plugs in a provider of its own (MSK IAM, an OIDC client-credentials flow) the same way.
"""

from __future__ import annotations

import base64
import json
import os
import time

from aiokafka.abc import AbstractTokenProvider

LIFETIME_S = 3600


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


class UnsecuredTokens(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no types
    """Tokens for the principal ``LEC_DEVSTACK_OAUTH_SUBJECT`` (default ``lec-connector``), valid for an hour."""

    async def token(self) -> str:
        now = int(time.time())
        subject = os.environ.get("LEC_DEVSTACK_OAUTH_SUBJECT", "lec-connector")
        return f"{_part({'alg': 'none'})}.{_part({'sub': subject, 'iat': now, 'exp': now + LIFETIME_S})}."
