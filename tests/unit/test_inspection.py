"""What ``conversations show|list`` print of a state (``streams.inspection``'s pure part): masked unless asked,
the queue oldest first with texts as lengths, a due retry, closed and open routes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schemas.codec import codec
from streams.inspection import mask, masked_key, render, render_list, view

MOMENT = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
COMMAND = codec("LiveEngageCommand")


def command(command_id: str, text: str, attempt: int = 0) -> dict[str, object]:
    return {"command_id": command_id, "account_id": "123", "channel_id": "sms", "consumer_id": "+15551234567",
            "action": "PUBLISH_TEXT", "text": text, "created_at": MOMENT - timedelta(seconds=90), "attempt": attempt}


def state(**changes: object) -> dict[str, object]:
    return {"account_id": "123", "channel_id": "sms", "consumer_id": "+15551234567", "status": "OPEN",
            "conversation_id": "c-2", "dialog_id": "c-2", "lp_consumer_id": "lp-consumer-uuid",
            "consumer_jws": "eyJ.secret.jws", "opened_at": MOMENT - timedelta(minutes=5),
            "updated_at": MOMENT - timedelta(seconds=30), "last_conversation_id": "c-1", "skill_id": "17",
            "agent_id": None, "change_ts": 0, "retrying": True,
            "pending": [COMMAND.encode(command("t-1", "my order 4471")), COMMAND.encode(command("t-2", "and?"))],
            "ledger": [f"id-{n}" for n in range(8)], "published": {"1": "m-1"},
            "routes": {"c-1": int((MOMENT - timedelta(days=1)).timestamp() * 1000), "c-2": 0}} | changes


def test_personal_data_is_masked_unless_asked() -> None:
    assert mask("+15551234567", False) == "+1••••••••67" and mask("+15551234567", True) == "+15551234567"
    assert mask("abc", False) == "•••" and mask(None, False) is None
    assert masked_key("sms:+15551234567", False) == "sms:+1••••••••67"
    shown = view("sms:+15551234567", state(), opted_out=False, retry=None, personal=False)
    printed = render(shown, MOMENT)
    for personal in ("+15551234567", "my order 4471", "lp-consumer-uuid", "eyJ.secret.jws"):
        assert personal not in printed and personal not in str(shown)
    assert [c["text_length"] for c in shown["queued"]] == [13, 4]
    asked = view("sms:+15551234567", state(), opted_out=False, retry=None, personal=True)
    assert asked["consumer"] == "sms:+15551234567" and asked["queued"][0]["text"] == "my order 4471"
    assert "eyJ.secret.jws" not in str(asked)  # the ConsumerJWS is never shown


def test_render_names_queue_retry_ledger_routes_and_opt_out() -> None:
    retry = command("t-1", "my order 4471", attempt=2) | {"due_at": MOMENT + timedelta(seconds=10)}
    printed = render(view("sms:+15551234567", state(), opted_out=True, retry=retry, personal=False), MOMENT)
    assert "status            OPEN, last activity 2026-12-06 11:59:30 (30 s ago)" in printed
    assert "queued            2" in printed and "PUBLISH_TEXT t-1 attempt 0, created" in printed
    assert "13 characters" in printed
    assert "retrying          yes: PUBLISH_TEXT attempt 2 due 2026-12-06 12:00:10" in printed
    assert "last 5 of 8: id-3, id-4, id-5, id-6, id-7" in printed
    assert "c-1 (closed 2026-12-05 12:00:00), c-2 (open)" in printed
    assert "opted out         yes" in printed


def test_list_rows() -> None:
    rows = [{"consumer": "sms:+1••67", "status": "OPEN", "conversation_id": "c-2", "queued": 2, "retrying": True,
             "waiting_s": 90.0, "updated_at": MOMENT}]
    printed = render_list(rows)
    assert "sms:+1••67" in printed and "90 s" in printed and printed.endswith("1 consumers")
