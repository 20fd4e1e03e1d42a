"""Delivery of messages to channel gateways, in each channel's format (its adapter builds the requests)."""

from __future__ import annotations

import urllib.parse
from typing import Any


from streams import http
from streams.errors import ConsumerOptedOutError, RemoteRejectedError, UnknownChannelError
from streams.settings import ChannelRoute, WorkerSettings


class ChannelClient:
    """Sends what the channel's adapter builds: outbound messages, and file downloads with its credentials."""

    def __init__(self, client: http.HttpClient, settings: WorkerSettings) -> None:
        self._http = client
        self._settings = settings

    def _channel(self, channel_id: str) -> ChannelRoute:
        route = self._settings.channels.get(channel_id)
        if route is None:
            raise UnknownChannelError(f"channel {channel_id!r} is not configured")
        return route

    async def fetch_file(self, channel_id: str, url: str, limit: int) -> bytes:
        """Download a file the consumer shared through the channel's gateway."""
        binding = self._channel(channel_id).binding
        what = f"channel {channel_id} file download"
        response = await http.request(self._http, "GET", url, headers=binding.adapter.file_headers(binding.config),
                                      what=what, follow_redirects=True)
        http.raise_for_status(response, what=what)
        if len(response.content) > limit:
            raise RemoteRejectedError(f"{what}: file of {len(response.content)} bytes exceeds {limit}", status=413)
        return response.content

    async def deliver(self, message: dict[str, Any]) -> int:
        """Deliver one ChannelOutbound record; return how many requests it took (0: the channel cannot show it).

        Returns once the gateway answered 2xx to each. A retry after a lost answer may repeat a request: the
        generic gateway deduplicates on ``message_id``; an SMS gateway cannot, so the consumer may get it twice.
        """
        channel_id = message["channel_id"]
        binding = self._channel(channel_id).binding
        calls = binding.adapter.outbound(binding.config, message, self.status_url(channel_id, message["message_id"]))
        what = f"channel {channel_id} delivery"
        for call in calls:
            if call.form is not None:  # a list of pairs: names may repeat (a mapping would not allow that)
                form = urllib.parse.urlencode(call.form).encode()
                headers = call.headers | {"Content-Type": "application/x-www-form-urlencoded"}
                response = await http.request(self._http, "POST", call.url, headers=headers, data=form, what=what)
            else:
                response = await http.request(self._http, "POST", call.url, headers=call.headers, json=call.json,
                                              what=what)
            if binding.adapter.refused_as_opted_out(response.status_code, response.content):
                raise ConsumerOptedOutError(f"{what}: the consumer opted out at the gateway",
                                            status=response.status_code)
            http.raise_for_status(response, what=what)
        return len(calls)

    def status_url(self, channel_id: str, message_id: str) -> str | None:
        """Where the gateway reports this message's delivery status (through the channel bridge), if known."""
        base = self._settings.channel_bridge_public_url
        if base is None:
            return None
        query = urllib.parse.urlencode({"message_id": message_id})
        return f"{base.rstrip('/')}/v1/channels/{urllib.parse.quote(channel_id, safe='')}/status?{query}"
