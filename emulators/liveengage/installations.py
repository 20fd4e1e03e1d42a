"""LiveEngage's App Installation API (service ``accountConfigReadWrite``): where an app's webhooks are registered.

``GET .../configuration/app-install/installations[/{appId}]?v=1.0`` and ``PUT .../installations/{appId}?v=1.0``
with ``Authorization: Bearer <admin token>``. A PUT takes effect at once (LiveEngage: within ~2 minutes): the
dispatcher delivers only to the endpoints registered, with their retry policy.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.liveengage.webhooks import SUBSCRIPTION_KEYS, Endpoint, WebhookDispatcher

BASE = "/api/account/{account}/configuration/app-install/installations"


class Installations:
    def __init__(self, account_id: str, client_id: str, admin_token: str, webhooks: WebhookDispatcher) -> None:
        self.account_id = account_id
        self.admin_token = admin_token
        self.webhooks = webhooks
        self.installation: dict[str, Any] = {
            "id": client_id, "client_id": client_id, "client_name": "Sandbox connector", "enabled": True,
            "grant_types": ["client_credentials"], "scope": "msg.consumer", "capabilities": {"webhooks": {}},
        }
        self._apply(self.installation["capabilities"]["webhooks"])

    def routes(self) -> list[Route]:
        return [Route(BASE, self.list_installations), Route(BASE + "/{app_id}", self.one, methods=["GET", "PUT"])]

    def _refusal(self, request: Request) -> JSONResponse | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(token.encode(), self.admin_token.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if request.path_params["account"] != self.account_id or request.query_params.get("v") != "1.0":
            return JSONResponse({"error": "unknown account or missing v=1.0"}, status_code=400)
        app_id = request.path_params.get("app_id")
        if app_id is not None and app_id != self.installation["id"]:
            return JSONResponse({"error": "no such app installation"}, status_code=404)
        return None

    async def list_installations(self, request: Request) -> JSONResponse:
        return self._refusal(request) or JSONResponse([self.installation])

    async def one(self, request: Request) -> JSONResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if request.method == "PUT":
            try:
                document = json.loads(await request.body())
            except json.JSONDecodeError:
                document = None
            problem = _problem(document)
            if problem:
                return JSONResponse({"error": "bad_request", "detail": problem}, status_code=400)
            self.installation = document | {"id": self.installation["id"], "client_id": self.installation["id"]}
            self._apply(self.installation["capabilities"]["webhooks"])
        return JSONResponse(self.installation)

    def _apply(self, webhooks: dict[str, Any]) -> None:
        self.webhooks.endpoints = {
            key: Endpoint(value["endpoint"], int(value.get("max_retries", 0)), list(value.get("headers") or []))
            for key, value in webhooks.items() if key in SUBSCRIPTION_KEYS
        }
        retry = webhooks.get("retry")
        self.webhooks.retention_s = float(retry["retention_time"]) if isinstance(retry, dict) else None


def _problem(document: Any) -> str | None:
    if not isinstance(document, dict) or not isinstance(document.get("capabilities"), dict):
        return "an installation object with capabilities is required"
    webhooks = document["capabilities"].get("webhooks", {})
    if not isinstance(webhooks, dict):
        return "capabilities.webhooks must be an object"
    for key, value in webhooks.items():
        if key == "retry":
            retention = value.get("retention_time") if isinstance(value, dict) else None
            if not isinstance(retention, int) or not 2 <= retention <= 259200:
                return "retry.retention_time must be 2 to 259200 seconds"
        elif key not in SUBSCRIPTION_KEYS:
            return f"unknown webhook event type {key[:80]}"
        elif not isinstance(value, dict) or not str(value.get("endpoint", "")).startswith(("https://", "http://")):
            return f"{key}.endpoint must be a URL"
        elif not 0 <= int(value.get("max_retries", 0)) <= 5:
            return f"{key}.max_retries must be 0 to 5"
    return None
