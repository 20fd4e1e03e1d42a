"""The channel bridge ASGI app: ``POST /v1/channels/{channel_id}/{hook}`` from channel gateways.

The channel's adapter (``adapters``) checks the gateway's signature and turns its request into ChannelInbound
events; the bridge limits, publishes them and answers as the adapter says, only once Kafka has them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import InboundRequest, InputError
from gateways import health
from gateways.body import read_limited, require_content_type
from gateways.errors import EXCEPTION_HANDLERS, BadRequestError, NotFoundError, UnauthorizedError
from gateways.metrics import PREVIOUS_SECRET, RequestMetrics
from gateways.producer import producer_lifespan
from gateways.ratelimit import RateLimiter
from gateways.settings import ChannelBridgeSettings
from schemas.topics import CHANNEL_INBOUND, consumer_key


logger = logging.getLogger(__name__)


def create_app(settings: ChannelBridgeSettings) -> Starlette:
    per_channel = RateLimiter(settings.channel_rate, settings.channel_burst, what="channel")
    per_consumer = RateLimiter(settings.consumer_rate, settings.consumer_burst, what="consumer")

    def public_url(request: Request) -> str:
        """The URL the gateway called: behind a proxy, the configured public URL with this path and query."""
        if settings.channel_bridge_public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{settings.channel_bridge_public_url.rstrip('/')}{request.url.path}{query}"

    async def receive(request: Request) -> Response:
        channel_id, hook = request.path_params["channel_id"], request.path_params["hook"]
        channel = settings.channels.get(channel_id)
        if channel is None:
            raise NotFoundError(f"unknown channel {channel_id!r}")
        adapter, config = channel.binding.adapter, channel.binding.config
        if hook not in adapter.hooks:
            raise NotFoundError(f"channel {channel_id!r} ({adapter.name}) has no {hook!r} endpoint")
        require_content_type(request, adapter.content_type)
        raw = await read_limited(request, settings.max_body_bytes, settings.body_timeout_s)
        received_at = datetime.now(timezone.utc)
        inbound = InboundRequest(public_url(request), dict(request.headers), raw,
                                 int(received_at.timestamp() * 1000), dict(request.query_params))
        signed_with = adapter.signed_with(config, inbound)
        if signed_with is None:
            raise UnauthorizedError(f"missing or wrong signature for channel {channel_id!r}")
        if signed_with == "previous":
            PREVIOUS_SECRET.labels("channel").inc()
        per_channel.take(channel_id, rate=channel.rate, burst=channel.burst)
        try:
            events = adapter.parse(config, hook, inbound)
        except InputError as exc:
            raise BadRequestError(exc.detail, fields=exc.fields) from exc
        records = [(consumer_key(channel_id, event["consumer_id"]),
                    event | {"channel_id": channel_id, "received_at": received_at}) for event in events]
        for key in dict.fromkeys(key for key, _ in records):
            per_consumer.take(key)
        if records:
            await request.app.state.producer.publish(CHANNEL_INBOUND, records)
        logger.debug("channel %s: accepted %d events on %s", channel_id, len(records), hook)
        answer = adapter.answer(hook, events)
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    routes = [Route("/v1/channels/{channel_id}/{hook}", receive, methods=["POST"]), *health.ROUTES]
    return Starlette(routes=routes, lifespan=producer_lifespan(settings, CHANNEL_INBOUND, "channel-bridge"),
                     exception_handlers=EXCEPTION_HANDLERS,
                     middleware=[Middleware(RequestMetrics, bridge="channel")])
