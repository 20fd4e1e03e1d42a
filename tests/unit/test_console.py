"""The sandbox console's pieces that need no browser: how records become flows, and who may use the console."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from console.__main__ import CONFIG_ERROR_EXIT, main
from console.app import ConsoleConfig, create_app
from console.flows import FlowBook
from schemas import topics as catalogue

T0 = 1_700_000_000_000


def at(ms: int) -> datetime:
    return datetime.fromtimestamp((T0 + ms) / 1000, timezone.utc)


def stages(book: FlowBook, flow_id: str) -> list[tuple[str, int]]:
    (flow,) = [f for f in book.flows() if f.id == flow_id]
    return [(hop.stage, hop.latency_ms) for hop in flow.hops]


def test_a_consumer_text_is_followed_from_the_bridge_to_liveengage() -> None:
    book = FlowBook()
    book.add(catalogue.CHANNEL_INBOUND.name, 2, 10, T0, {
        "event_id": "ev-1", "kind": "TEXT", "channel_id": "sms", "consumer_id": "+1555", "received_at": at(0)})
    book.add(catalogue.LIVEENGAGE_COMMANDS.name, 2, 7, T0 + 15, {
        "command_id": "ev-1", "action": "PUBLISH_TEXT", "channel_id": "sms", "consumer_id": "+1555"})
    book.add(catalogue.LIVEENGAGE_RETRIES.name, 2, 1, T0 + 40, {"command_id": "ev-1", "attempt": 1})
    changed = book.add(catalogue.ANALYTICS_EVENTS.name, 0, 3, T0 + 99, {
        "event_id": "ev-1", "kind": "CONSUMER_MESSAGE", "conversation_id": "conv-1", "occurred_at": at(90)})
    assert changed is not None and changed.conversation_id == "conv-1" and changed.direction == "consumer → agent"
    assert stages(book, "ev-1") == [("channel bridge", 0), ("worker: publish_text", 15), ("retry 1 scheduled", 40),
                                    ("LiveEngage accepted", 90)]
    (flow,) = book.flows()
    assert (flow.hops[0].topic, flow.hops[0].partition, flow.hops[0].offset) == ("lec.channel.inbound", 2, 10)


def test_an_agent_message_is_followed_by_its_dialog_and_sequence_to_the_channel() -> None:
    book = FlowBook()
    book.add(catalogue.LIVEENGAGE_EVENTS.name, 1, 5, T0, {
        "event_id": "le-9", "event_type": "ContentEvent", "conversation_id": "conv-1", "dialog_id": "d-1",
        "sequence": 3, "received_at": at(0)})
    book.add(catalogue.CHANNEL_OUTBOUND.name, 0, 8, T0 + 20, {  # created_at: the agent's time, before the webhook
        "message_id": "d-1:3", "kind": "TEXT", "channel_id": "sms", "consumer_id": "+1555", "created_at": at(-300)})
    book.add(catalogue.ANALYTICS_EVENTS.name, 0, 4, T0 + 60, {
        "event_id": "d-1:3", "kind": "AGENT_MESSAGE", "conversation_id": "conv-1", "occurred_at": at(55)})
    assert stages(book, "le-9") == [("webhook bridge", 0), ("worker: text to the channel", 20),
                                    ("channel gateway accepted", 55)]
    (flow,) = book.flows()
    assert (flow.channel_id, flow.consumer_id) == ("sms", "+1555")


def test_typing_goes_with_its_event_and_unknown_records_are_left_out() -> None:
    book = FlowBook()
    book.add(catalogue.LIVEENGAGE_EVENTS.name, 0, 1, T0, {
        "event_id": "le-2", "event_type": "ChatStateEvent", "conversation_id": "c", "dialog_id": "d",
        "sequence": None, "received_at": at(0)})
    assert book.add(catalogue.CHANNEL_OUTBOUND.name, 0, 2, T0 + 5, {
        "message_id": "le-2:typing", "kind": "TYPING", "created_at": at(5)}) is not None
    assert book.add(catalogue.CHANNEL_OUTBOUND.name, 0, 3, T0, {"message_id": "nobody:1", "kind": "TEXT"}) is None
    assert book.add(catalogue.CONVERSATION_ROUTES.name, 0, 1, T0, {"conversation_id": "c"}) is None
    assert stages(book, "le-2") == [("webhook bridge", 0), ("worker: typing to the channel", 5)]


def test_a_dead_letter_ends_the_path_it_came_from_or_starts_its_own() -> None:
    book = FlowBook()
    book.add(catalogue.CHANNEL_INBOUND.name, 3, 44, T0, {"event_id": "ev-7", "kind": "TEXT", "received_at": at(0)})
    failed = book.add(catalogue.CHANNEL_INBOUND.dead_letters.name, 3, 0, T0 + 30, {
        "source_topic": catalogue.CHANNEL_INBOUND.name, "partition": 3, "offset": 44,
        "error_class": "UnknownChannelError", "failed_at": at(30)})
    assert failed is not None and failed.id == "ev-7" and failed.failed == "UnknownChannelError"
    assert stages(book, "ev-7")[-1] == ("dead-lettered: UnknownChannelError", 30)
    poison = book.add(catalogue.CONSUMER_IDENTITIES.dead_letters.name, 0, 1, T0, {
        "source_topic": catalogue.CONSUMER_IDENTITIES.name, "partition": 0, "offset": 9,
        "error_class": "UndecodableRecordError", "failed_at": at(0)})
    assert poison is not None and poison.id == "lec.consumer.identities[0]@9" and poison.direction == "dead letter"


def test_the_book_keeps_the_latest_flows_only() -> None:
    book = FlowBook(keep=3)
    for n in range(5):
        book.add(catalogue.CHANNEL_INBOUND.name, 0, n, T0, {"event_id": f"ev-{n}", "kind": "TEXT"})
    assert [flow.id for flow in book.flows()] == ["ev-2", "ev-3", "ev-4"]


CONFIG = ConsoleConfig("127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", token="s3cret-token")


async def test_with_a_token_every_request_needs_it_and_the_page_sets_a_cookie() -> None:
    transport = httpx.ASGITransport(app=create_app(CONFIG))  # no lifespan: nothing reaches Kafka or a sandbox
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        assert (await client.get("/livez")).status_code == 200
        refused = await client.get("/api/conversations")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        assert "s3cret" not in refused.text
        assert (await client.get("/", params={"token": "wrong"})).status_code == 401
        opened = await client.get("/", params={"token": "s3cret-token"})
        assert opened.status_code == 200 and "sandbox console" in opened.text
        assert "httponly" in opened.headers["set-cookie"].lower()
        assert (await client.get("/static/console.js")).status_code == 200  # the cookie now carries the token
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as other:
        bearer = await other.get("/static/console.css", headers={"authorization": "Bearer s3cret-token"})
        assert bearer.status_code == 200


async def test_bad_requests_get_a_clear_answer() -> None:
    transport = httpx.ASGITransport(app=create_app(ConsoleConfig("127.0.0.1:9", "http://x", "http://y")))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        unknown = await client.post("/api/conversations/c-1/agent/explode", json={})
        assert unknown.status_code == 404 and "messages" in unknown.json()["detail"]
        garbled = await client.post("/api/consumers/+1555/actions", content=b"{not json")
        assert garbled.status_code == 400 and garbled.json()["error"] == "bad_request"
        wrong_source = await client.post("/api/dead-letters/replay", json={"source": "lec.nowhere"})
        assert wrong_source.status_code == 400 and "not a source topic" in wrong_source.json()["detail"]


def test_beyond_loopback_the_console_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LEC_CONSOLE_TOKEN", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "1"]) == CONFIG_ERROR_EXIT
    assert "LEC_CONSOLE_TOKEN" in capsys.readouterr().err
