"""The webhook bridge ASGI app: ``POST /v1/liveengage/webhooks``, every Connector API notification type."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateways import health
from gateways.body import parse_json_object, read_limited, require_json_content_type
from gateways.errors import EXCEPTION_HANDLERS, UnauthorizedError
from gateways.liveengage import notifications, signature
from gateways.metrics import PREVIOUS_SECRET, RequestMetrics
from gateways.producer import producer_lifespan
from gateways.ratelimit import RateLimiter
from gateways.settings import LiveEngageApp, WebhookBridgeSettings
from schemas.topics import LIVEENGAGE_EVENTS


logger = logging.getLogger(__name__)


def create_app(settings: WebhookBridgeSettings) -> Starlette:
    per_account = RateLimiter(settings.account_rate, settings.account_burst, what="account")

    def authenticate(request: Request, raw: bytes) -> str:
        account_id = request.headers.get(signature.ACCOUNT_HEADER)
        if not account_id:
            raise UnauthorizedError(f"{signature.ACCOUNT_HEADER} header is missing")
        app: LiveEngageApp | None = settings.liveengage_accounts.get(account_id)
        if app is None:
            raise UnauthorizedError(f"account {account_id[:32]!r} is not configured")
        if request.headers.get(signature.CLIENT_HEADER) != app.client_id:
            raise UnauthorizedError(f"{signature.CLIENT_HEADER} is missing or not this account's app installation")
        signed = [signature.verify(raw, request.headers.get(signature.HEADER), secret,
                                   settings.webhook_signature_encodings) for secret in app.all_secrets()]
        if not any(signed):
            raise UnauthorizedError(f"{signature.HEADER} is missing or does not sign this body")
        if not signed[0]:
            PREVIOUS_SECRET.labels("liveengage").inc()  # signed with the secret being rotated out
        return account_id

    async def receive_notification(request: Request) -> JSONResponse:
        # LiveEngage does not document the notification content type; accept JSON or none.
        require_json_content_type(request, allow_missing=True)
        raw = await read_limited(request, settings.max_body_bytes, settings.body_timeout_s)
        account_id = authenticate(request, raw)
        per_account.take(account_id)
        records = notifications.to_records(account_id, parse_json_object(raw))
        if records:
            await request.app.state.producer.publish(LIVEENGAGE_EVENTS, records)
        kind = records[0][1]["notification_type"] if records else "an empty notification"
        logger.debug("account %s: accepted %d change(s) of %s", account_id, len(records), kind)
        return JSONResponse({"status": "accepted", "events": len(records)}, status_code=200)

    routes = [Route("/v1/liveengage/webhooks", receive_notification, methods=["POST"]), *health.ROUTES]
    return Starlette(routes=routes, lifespan=producer_lifespan(settings, LIVEENGAGE_EVENTS, "webhook-bridge"),
                     exception_handlers=EXCEPTION_HANDLERS,
                     middleware=[Middleware(RequestMetrics, bridge="liveengage")])
