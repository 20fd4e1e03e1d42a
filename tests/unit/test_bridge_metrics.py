"""The bridges' /metrics: requests counted and timed by route template and status, not by raw path."""

from __future__ import annotations

import re

from gateways.channel.app import create_app as channel_app
from gateways.settings import ChannelBridgeSettings
from tests.conftest import generic_channel
from tests.unit.test_bridges import CHANNEL_SECRET, RecordingProducer, client_for, inbound, post_inbound

ROUTE = "/v1/channels/{channel_id}/{hook}"


def counted(metrics: str, route: str, status: int) -> float:
    pattern = (rf'^lec_bridge_requests_total\{{bridge="channel",route="{re.escape(route)}",status="{status}"\}} '
               r'(\S+)$')
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_requests_are_counted_by_route_template_and_status() -> None:
    settings = ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)})
    async with client_for(channel_app(settings), RecordingProducer()) as client:
        before = (await client.get("/metrics")).text
        assert (await post_inbound(client, inbound())).status_code == 202
        assert (await post_inbound(client, inbound(), secret="wrong")).status_code == 401
        assert (await post_inbound(client, inbound(), channel="nope")).status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        after = await client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    for route, status in ((ROUTE, 202), (ROUTE, 401), (ROUTE, 404), ("unmatched", 404)):
        assert counted(after.text, route, status) == counted(before, route, status) + 1, (route, status)
    assert "/v1/channels/sms/messages" not in after.text and "/v1/channels/nope" not in after.text
    seconds = rf'^lec_bridge_request_seconds_count\{{bridge="channel",route="{re.escape(ROUTE)}"\}}'
    assert re.search(seconds, after.text, re.MULTILINE)
