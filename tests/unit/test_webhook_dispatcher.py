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


async def test_time_to_live_retries_hold_back_later_events_and_keep_order() -> None:
    seen: list[httpx.Request] = []
    hooks = dispatcher([500, 500], seen, max_retries=0)
    hooks.retention_s = 60.0
    hooks.ttl_first_delay_s = 0.01
    await hooks.start()
    try:
        hooks.emit(messaging_notification(CHANGE))
        hooks.emit(messaging_notification(CHANGE | {"sequence": 1}))
        await wait_until_async(lambda: asyncio.sleep(0, len(hooks.deliveries) >= 4), timeout=5, what="4 attempts")
    finally:
        await hooks.stop()
    sequences = [d["body"]["body"]["changes"][0]["sequence"] for d in hooks.deliveries]
    assert sequences == [0, 0, 0, 1]
    assert [d["status"] for d in hooks.deliveries] == [500, 500, 200, 200]


async def test_time_to_live_drops_an_event_older_than_the_retention() -> None:
    seen: list[httpx.Request] = []
    hooks = dispatcher([500] * 100, seen, max_retries=0)
    hooks.retention_s = 0.05
    hooks.ttl_first_delay_s = 0.02
    await hooks.start()
    try:
        hooks.emit(messaging_notification(CHANGE))
        hooks.emit(messaging_notification(CHANGE | {"sequence": 1}))
        await wait_until_async(lambda: asyncio.sleep(0, any(d["body"]["body"]["changes"][0]["sequence"] == 1
                                                            for d in hooks.deliveries)),
                               timeout=5, what="the second event, after the first was dropped")
    finally:
        await hooks.stop()
    first = [d for d in hooks.deliveries if d["body"]["body"]["changes"][0]["sequence"] == 0]
    assert 2 <= len(first) <= 4  # retried with backoff, then given up once older than the retention


async def test_installation_api_registers_endpoints_and_retry_policy() -> None:
    from starlette.applications import Starlette

    from emulators.liveengage.installations import Installations

    hooks = WebhookDispatcher("acct", "client", "secret", signing=Signing(), retry_interval_s=1, timeout_s=1)
    installations = Installations("acct", "client", "admin", hooks)
    app = Starlette(routes=installations.routes())
    url = "/api/account/acct/configuration/app-install/installations/client"
    webhooks = {"cqm.ExConversationChangeNotification": {"endpoint": "https://c.example/hook", "max_retries": 2},
                "retry": {"retention_time": 120}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://le") as client:
        refused = await client.put(url, params={"v": "1.0"}, json={"capabilities": {"webhooks": webhooks}})
        bad = await client.put(url, params={"v": "1.0"}, headers={"Authorization": "Bearer admin"},
                               json={"capabilities": {"webhooks": {"ms.Nope": {"endpoint": "https://x"}}}})
        done = await client.put(url, params={"v": "1.0"}, headers={"Authorization": "Bearer admin"},
                                json={"capabilities": {"webhooks": webhooks}})
    assert refused.status_code == 401 and bad.status_code == 400
    assert done.status_code == 200 and done.json()["capabilities"]["webhooks"] == webhooks
    assert list(hooks.endpoints) == ["cqm.ExConversationChangeNotification"]
    assert hooks.endpoints["cqm.ExConversationChangeNotification"].max_retries == 2 and hooks.retention_s == 120
