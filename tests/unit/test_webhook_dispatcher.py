"""The LiveEngage sandbox's webhook delivery: endpoints per event type, signatures, number-based retries."""

from __future__ import annotations

import asyncio

import httpx

from emulators.liveengage.store import messaging_notification
from emulators.liveengage.webhooks import Signing, WebhookDispatcher
from gateways.liveengage import signature
from tests.conftest import wait_until_async

CHANGE = {"sequence": 0, "originatorId": "a", "originatorMetadata": {"id": "a", "role": "ASSIGNED_AGENT"},
          "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hé"}, "dialogId": "d",
          "conversationId": "d"}


def dispatcher(answers: list[int], seen: list[httpx.Request], *, max_retries: int) -> WebhookDispatcher:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0) if answers else 200)

    hooks = WebhookDispatcher("acct", "client", "secret", signing=Signing(), retry_interval_s=0.01, timeout_s=1.0,
                              transport=httpx.MockTransport(answer))
    hooks.register_all("http://connector/v1/liveengage/webhooks", max_retries)
    return hooks


async def test_signed_and_retried_until_200() -> None:
    seen: list[httpx.Request] = []
    hooks = dispatcher([500, 503], seen, max_retries=3)
    await hooks.start()
    try:
        hooks.emit(messaging_notification(CHANGE))
        await wait_until_async(lambda: asyncio.sleep(0, len(seen) >= 3), timeout=5, what="three attempts")
    finally:
        await hooks.stop()
    assert [d["status"] for d in hooks.deliveries] == [500, 503, 200]
    assert [d["attempt"] for d in hooks.deliveries] == [1, 2, 3]
    assert len({r.content for r in seen}) == 1  # the same bytes every time
    for request in seen:
        assert request.headers["x-liveperson-account-id"] == "acct"
        assert request.headers["x-liveperson-client-id"] == "client"
        assert signature.verify(request.content, request.headers["x-liveperson-signature"], "secret")


async def test_gives_up_after_max_retries() -> None:
    seen: list[httpx.Request] = []
    hooks = dispatcher([500] * 10, seen, max_retries=1)
    await hooks.start()
    try:
        hooks.emit(messaging_notification(CHANGE))
        await wait_until_async(lambda: asyncio.sleep(0, len(hooks.deliveries) >= 2), timeout=5, what="2 attempts")
        hooks.emit(messaging_notification(CHANGE | {"sequence": 1}))
        await wait_until_async(lambda: asyncio.sleep(0, len(hooks.deliveries) >= 4), timeout=5, what="next event")
    finally:
        await hooks.stop()
    assert [d["attempt"] for d in hooks.deliveries] == [1, 2, 1, 2]


async def test_unregistered_event_types_are_not_delivered() -> None:
    seen: list[httpx.Request] = []
    hooks = dispatcher([], seen, max_retries=0)
    del hooks.endpoints["ms.MessagingEventNotification.ContentEvent"]
    await hooks.start()
    try:
        hooks.emit(messaging_notification(CHANGE))
        hooks.emit(messaging_notification(CHANGE | {"event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}}))
        await wait_until_async(lambda: asyncio.sleep(0, len(seen) >= 1), timeout=5, what="the chat state")
    finally:
        await hooks.stop()
    assert [d["subscription"] for d in hooks.deliveries] == ["ms.MessagingEventNotification.ChatStateEvent"]
