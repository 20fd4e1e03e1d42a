"""Registers the connector's webhook endpoint in each account's app installation, and shows what is registered.

Run ``python -m streams register-webhooks``: for every account in ``LEC_LIVEENGAGE_ACCOUNTS`` that has an
``admin_token``, it reads the installation (App Installation API, service ``accountConfigReadWrite``), points
every event type the connector handles at ``LEC_PUBLIC_WEBHOOK_URL`` with the configured retry policy, writes
it back, and prints the registered endpoints. Re-running it is harmless.
"""

from __future__ import annotations

from typing import Any

from streams import http
from streams.errors import RemoteRejectedError
from streams.liveengage import LiveEngageClient
from streams.settings import WorkerSettings

EVENT_TYPES = (
    "ms.MessagingEventNotification.ContentEvent",
    "ms.MessagingEventNotification.RichContentEvent",
    "ms.MessagingEventNotification.AcceptStatusEvent",
    "ms.MessagingEventNotification.ChatStateEvent",
    "cqm.ExConversationChangeNotification",
)


def webhooks_config(url: str, max_retries: int, retention_s: int | None) -> dict[str, Any]:
    """The ``capabilities.webhooks`` object: one endpoint per event type, and the retry policy. Pure."""
    config: dict[str, Any] = {key: {"endpoint": url, "max_retries": max_retries, "headers": []}
                              for key in EVENT_TYPES}
    if retention_s is not None:
        config["retry"] = {"retention_time": retention_s}
    return config


async def register(client: LiveEngageClient, settings: WorkerSettings) -> dict[str, dict[str, Any]]:
    """Register on every account with an admin token; return each account's registered webhooks."""
    if not settings.public_webhook_url:
        raise RemoteRejectedError("LEC_PUBLIC_WEBHOOK_URL is not set: nothing to register", status=0)
    registered = {}
    for account_id, credentials in settings.liveengage_accounts.items():
        if credentials.admin_token is None:
            continue
        base = await client.base_url(account_id, "accountConfigReadWrite")
        url = f"{base}/api/account/{account_id}/configuration/app-install/installations/{credentials.client_id}"
        headers = {"Authorization": f"Bearer {credentials.admin_token.get_secret_value()}"}
        current = await http.request(client.http, "GET", url, params={"v": "1.0"}, headers=headers,
                                     what="App Installation API")
        http.raise_for_status(current, what="App Installation API")
        installation = http.json_body(current, what="App Installation API")
        installation.setdefault("capabilities", {})["webhooks"] = webhooks_config(
            settings.public_webhook_url, settings.webhook_max_retries, settings.webhook_retention_s)
        updated = await http.request(client.http, "PUT", url, params={"v": "1.0"}, headers=headers,
                                     json=installation, what="App Installation API")
        http.raise_for_status(updated, what="App Installation API")
        registered[account_id] = http.json_body(updated, what="App Installation API")["capabilities"]["webhooks"]
    return registered


def describe(registered: dict[str, dict[str, Any]]) -> str:
    lines = []
    for account_id, webhooks in registered.items():
        retry = webhooks.get("retry", {}).get("retention_time")
        lines.append(f"account {account_id}: " + (f"time-to-live retries for {retry}s" if retry else
                                                   "number-based retries"))
        lines += [f"  {key:<50} {value['endpoint']}  (max_retries {value.get('max_retries', 0)})"
                  for key, value in webhooks.items() if key != "retry"]
    return "\n".join(lines) or "no account has an admin_token: nothing registered"
