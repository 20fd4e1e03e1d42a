"""The LiveEngage sandbox ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.liveengage.api import EmulatorConfig, LiveEngageApi
from emulators.liveengage.console import Console
from emulators.liveengage.faults import Faults
from emulators.liveengage.files import FileStore
from emulators.liveengage.installations import Installations
from emulators.liveengage.store import Store
from emulators.liveengage.webhooks import Signing, WebhookDispatcher


def create_app(config: EmulatorConfig, *, admin_token: str, webhook_url: str | None = None,
               webhook_max_retries: int = 3, retry_interval_s: float = 30.0, ttl_first_delay_s: float = 2.0,
               webhook_timeout_s: float = 5.0, signing: Signing = Signing()) -> Starlette:
    """The sandbox app. ``webhook_url`` pre-registers every event type there; otherwise the connector registers
    its endpoints through the App Installation API with ``admin_token``."""
    store = Store()
    webhooks = WebhookDispatcher(config.account_id, config.client_id, config.client_secret, signing=signing,
                                 retry_interval_s=retry_interval_s, timeout_s=webhook_timeout_s,
                                 ttl_first_delay_s=ttl_first_delay_s)
    installations = Installations(config.account_id, config.client_id, admin_token, webhooks)
    if webhook_url:
        webhooks.register_all(webhook_url, webhook_max_retries)
    files = FileStore(config.account_id)
    faults = Faults()
    api = LiveEngageApi(config, store, webhooks, files, faults)
    console = Console(store, webhooks, files, api)

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await webhooks.start()
        try:
            yield
        finally:
            await webhooks.stop()

    routes = [*api.routes(), *files.routes(), *installations.routes(), *console.routes(), *faults.routes(),
              Route("/livez", livez)]
    return Starlette(routes=routes, lifespan=lifespan)
