"""Bridge limits: per-key rate limits (429 + Retry-After), slow bodies (408), and nothing published for either."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from emulators.channel.app import sign
from gateways.channel.app import create_app
from gateways.ratelimit import RateLimitedError, RateLimiter
from gateways.settings import ChannelBridgeSettings
from tests.unit.test_bridges import CHANNEL_SECRET, RecordingProducer, client_for, inbound, post_inbound
from tests.conftest import generic_channel


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3.0, what="number", clock=clock)
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("a")
    assert refused.value.retry_after_s == 1 and refused.value.http_status == 429
    limiter.take("b")  # other keys have their own bucket
    clock.now += 0.5  # one token back at 2/s
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


def test_keys_are_bounded() -> None:
    limiter = RateLimiter(1.0, 1.0, what="number", max_keys=10, clock=FakeClock())
    for n in range(1000):
        limiter.take(str(n))
    assert len(limiter._buckets) == 10


async def test_consumer_flood_gets_429_with_retry_after_and_other_consumers_pass() -> None:
    settings = ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)}, consumer_rate=1,
                                     consumer_burst=2)
    producer = RecordingProducer()
    async with client_for(create_app(settings), producer) as client:
        answers = [await post_inbound(client, inbound(message_id=f"m-{n}")) for n in range(4)]
        other = await post_inbound(client, inbound(message_id="x-1", consumer_id="+4918"))
    assert [a.status_code for a in answers] == [202, 202, 429, 429]
    assert answers[2].json()["error"] == "rate_limited" and answers[2].headers["retry-after"] == "1"
    assert other.status_code == 202
    published = [record["event_id"] for _, records in producer.published for _, record in records]
    assert published == ["m-0", "m-1", "x-1"]


async def test_channel_flood_is_limited_per_channel() -> None:
    settings = ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)}, channel_rate=1, channel_burst=1)
    async with client_for(create_app(settings), RecordingProducer()) as client:
        first = await post_inbound(client, inbound(message_id="a", consumer_id="1"))
        second = await post_inbound(client, inbound(message_id="b", consumer_id="2"))
    assert (first.status_code, second.status_code) == (202, 429)


async def test_a_tenant_with_its_own_limit_is_limited_alone() -> None:
    channels = {"small-brand": generic_channel(CHANNEL_SECRET, rate=1, burst=1), "sms": generic_channel(CHANNEL_SECRET)}
    settings = ChannelBridgeSettings(channels=channels, channel_rate=100, channel_burst=100)
    async with client_for(create_app(settings), RecordingProducer()) as client:
        small = [await post_inbound(client, inbound(message_id=f"s{n}", consumer_id=str(n)), channel="small-brand")
                 for n in range(2)]
        large = [await post_inbound(client, inbound(message_id=f"l{n}", consumer_id=str(n))) for n in range(2)]
    assert [a.status_code for a in small + large] == [202, 429, 202, 202]


async def test_slow_body_gets_408_and_nothing_is_published() -> None:
    settings = ChannelBridgeSettings(channels={"sms": generic_channel(CHANNEL_SECRET)}, body_timeout_s=0.2)
    producer = RecordingProducer()
    never = asyncio.Event()
    body = inbound()

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:10]
        await never.wait()  # the client stops sending halfway
        yield body[10:]

    async with client_for(create_app(settings), producer) as client:
        headers = {"content-type": "application/json", "x-channel-signature": sign(body, CHANNEL_SECRET)}
        response = await client.post("/v1/channels/sms/messages", content=trickle(), headers=headers)
    assert response.status_code == 408 and response.json()["error"] == "request_timeout"
    assert producer.published == []


