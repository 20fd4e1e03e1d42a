"""Delivery of messages to channel gateways over the generic channel API."""

from __future__ import annotations

from typing import Any

import httpx

from streams import http
from streams.errors import UnknownChannelError
from streams.settings import WorkerSettings


class ChannelClient:
    """POSTs outbound messages to the configured channel gateway with its bearer token."""

    def __init__(self, client: httpx.AsyncClient, settings: WorkerSettings) -> None:
        self._http = client
        self._settings = settings

    async def deliver(self, message: dict[str, Any]) -> None:
        """Deliver one ChannelOutbound record; returns once the gateway answered 2xx.

        The gateway deduplicates on ``message_id``, so a retry after a lost answer is harmless.
        """
        channel_id = message["channel_id"]
        route = self._settings.channels.get(channel_id)
        if route is None:
            raise UnknownChannelError(f"channel {channel_id!r} is not configured")
        body = {
            "message_id": message["message_id"],
            "consumer_id": message["consumer_id"],
            "conversation_id": message["conversation_id"],
            "kind": message["kind"].lower(),
            "text": message["text"],
        }
        headers = {"Authorization": f"Bearer {route.outbound_token.get_secret_value()}"}
        what = f"channel {channel_id} delivery"
        response = await http.request(self._http, "POST", route.outbound_url, json=body, headers=headers, what=what)
        http.raise_for_status(response, what=what)
