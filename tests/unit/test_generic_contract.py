"""The channel bridge against its published contract, docs/generic-channel-api.yaml, with schemathesis.

Schemathesis generates requests from the OpenAPI document, valid ones and ones that break it; each is signed as
a gateway would sign it and sent to the bridge in process. Its checks then hold the bridge to the document:
valid requests accepted, invalid ones refused with a documented 4xx, every answer's status, content type and
body as documented, never a 5xx. Only an accepted request may publish, and exactly its one event.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CHECKS
from schemathesis.core import NotSet

from emulators.channel.app import sign
from gateways.channel.app import create_app as channel_app
from gateways.settings import ChannelBridgeSettings
from tests.conftest import generic_channel
from tests.unit.test_bridges import RecordingProducer, client_for

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "generic-channel-api.yaml"
SECRET = "contract-secret"
schema = schemathesis.openapi.from_path(CONTRACT)
# Checks that send further requests of their own (without auth, to other URLs) need a server: not here.
NEEDS_A_SERVER = {"ignored_auth", "use_after_free", "ensure_resource_availability"}


def call(method: str, path: str, body: bytes, headers: dict[str, Any]) -> tuple[httpx.Response, RecordingProducer]:
    """Send one request to a fresh bridge in process; the recording producer stands in for Kafka."""
    settings_ = ChannelBridgeSettings(channels={"sms": generic_channel(SECRET)}, consumer_burst=10**9,
                                      channel_burst=10**9)
    producer = RecordingProducer()

    async def send() -> httpx.Response:
        async with client_for(channel_app(settings_), producer) as client:
            response = await client.request(method, path, content=body, headers=headers)
            await response.aread()
            return response

    return asyncio.run(send()), producer


def raw_body(body: Any) -> bytes:
    """The bytes of a generated body: absent, already serialized (other media types), or JSON."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, (bytes, str)):
        return body.encode() if isinstance(body, str) else body
    return json.dumps(body).encode()


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_bridge_keeps_the_published_contract(case: Case) -> None:
    case.path_parameters = {"channel_id": "sms"}
    body = raw_body(case.body)
    headers: dict[str, Any] = {"content-type": case.media_type or "application/json"} | dict(case.headers or {})
    signature = next((name for name in headers if name.lower() == "x-channel-signature"), None)
    if signature is not None:  # the gateway's real signature; a case without one checks the 401
        headers[signature] = sign(body, SECRET)
    response, producer = call(case.method, case.formatted_path, body, headers)
    checks = [check for check in CHECKS.get_all() if check.__name__ not in NEEDS_A_SERVER]
    case.validate_response(response, checks=checks)
    published = sum(len(records) for _, records in producer.published)
    assert published == (1 if response.status_code == 202 else 0)
