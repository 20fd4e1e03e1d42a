"""The channel bridge ASGI app: ``POST /v1/channels/{channel_id}/messages`` from channel gateways."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateways import health
from gateways.body import parse_json_object, read_limited, require_json_content_type
from gateways.channel import messages, signature
from gateways.errors import EXCEPTION_HANDLERS, NotFoundError, UnauthorizedError
from gateways.producer import producer_lifespan
from gateways.ratelimit import RateLimiter
from gateways.settings import ChannelBridgeSettings
from schemas.topics import CHANNEL_INBOUND, consumer_key


logger = logging.getLogger(__name__)


def create_app(settings: ChannelBridgeSettings) -> Starlette:
    per_channel = RateLimiter(settings.channel_rate, settings.channel_burst, what="channel")
    per_consumer = RateLimiter(settings.consumer_rate, settings.consumer_burst, what="consumer")

    async def receive_message(request: Request) -> JSONResponse:
        channel_id = request.path_params["channel_id"]
        channel = settings.channels.get(channel_id)
        if channel is None:
            raise NotFoundError(f"unknown channel {channel_id!r}")
        require_json_content_type(request)
        raw = await read_limited(request, settings.max_body_bytes, settings.body_timeout_s)
        if not signature.verify(raw, request.headers.get(signature.HEADER), channel.secret.get_secret_value()):
            raise UnauthorizedError(f"missing or wrong {signature.HEADER} for channel {channel_id!r}")
        per_channel.take(channel_id)
        message = messages.parse(parse_json_object(raw))
        key = consumer_key(channel_id, message.consumer_id)
        per_consumer.take(key)
        await request.app.state.producer.publish(CHANNEL_INBOUND, [(key, messages.to_record(channel_id, message))])
        logger.debug("channel %s: accepted %s event %s", channel_id, message.type, message.message_id)
        return JSONResponse({"status": "accepted", "message_id": message.message_id}, status_code=202)

    routes = [Route("/v1/channels/{channel_id}/messages", receive_message, methods=["POST"]), *health.ROUTES]
    return Starlette(routes=routes, lifespan=producer_lifespan(settings, "channel-bridge"), exception_handlers=EXCEPTION_HANDLERS)
