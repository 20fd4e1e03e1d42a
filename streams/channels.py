"""Delivery of messages to channel gateways over the generic channel API."""

from __future__ import annotations

from typing import Any

import httpx

from streams import http
from streams.errors import RemoteRejectedError, UnknownChannelError
from streams.settings import WorkerSettings


class ChannelClient:
    """POSTs outbound messages to the configured channel gateway with its bearer token."""

    def __init__(self, client: httpx.AsyncClient, settings: WorkerSettings) -> None:
        self._http = client
        self._settings = settings

    async def fetch_file(self, channel_id: str, url: str, limit: int) -> bytes:
        """Download a file the consumer shared from the channel gateway (with the channel's token)."""
        route = self._settings.channels.get(channel_id)
        if route is None:
            raise UnknownChannelError(f"channel {channel_id!r} is not configured")
        what = f"channel {channel_id} file download"
        headers = {"Authorization": f"Bearer {route.outbound_token.get_secret_value()}"}
        response = await http.request(self._http, "GET", url, headers=headers, what=what)
        http.raise_for_status(response, what=what)
        if len(response.content) > limit:
            raise RemoteRejectedError(f"{what}: file of {len(response.content)} bytes exceeds {limit}", status=413)
        return response.content

    async def deliver(self, message: dict[str, Any]) -> None:
        """Deliver one ChannelOutbound record; returns once the gateway answered 2xx.

        The gateway deduplicates on ``message_id``, so a retry after a lost answer is harmless.
        """
        channel_id = message["channel_id"]
        route = self._settings.channels.get(channel_id)
        if route is None:
            raise UnknownChannelError(f"channel {channel_id!r} is not configured")
        body = outbound_body(message)
        headers = {"Authorization": f"Bearer {route.outbound_token.get_secret_value()}"}
        what = f"channel {channel_id} delivery"
        response = await http.request(self._http, "POST", route.outbound_url, json=body, headers=headers, what=what)
        http.raise_for_status(response, what=what)


def outbound_body(message: dict[str, Any]) -> dict[str, Any]:
    """The generic channel API's outbound JSON for one ChannelOutbound record (only the fields its kind uses)."""
    body: dict[str, Any] = {
        "message_id": message["message_id"],
        "consumer_id": message["consumer_id"],
        "conversation_id": message["conversation_id"],
        "type": message["kind"].lower(),
    }
    kind = message["kind"]
    if kind in ("TEXT", "NOTICE"):
        body["text"] = message["text"]
    if kind == "TEXT" and message["choices"]:
        body["choices"] = message["choices"]
    if kind == "NOTICE":
        body["notice"] = message["notice"]
    if kind == "RECEIPT":
        body["receipt"] = {"status": message["receipt_status"], "message_ids": message["receipt_message_ids"]}
    if kind == "TYPING":
        body["typing"] = bool(message["typing"])
    return body
