"""Log records never carry secrets or tokens, and phone numbers only when PII logging is enabled."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from telemetry.logs import MASK, install, redact

JWT = "eyJraWQiOiJhcHBqd3QifQ.eyJhdWQiOiI3NDgzOTIwMSJ9.c2lnbmF0dXJl"


def test_redact_secrets_tokens_and_numbers() -> None:
    text = f"secret s3cr3t-value token {JWT} from +491701234567 at offset 1717430400000"
    assert redact(text, ["s3cr3t-value"], pii=False) == \
        f"secret {MASK} token {MASK} from {MASK} at offset 1717430400000"
    assert redact(text, ["s3cr3t-value"], pii=True) == \
        f"secret {MASK} token {MASK} from +491701234567 at offset 1717430400000"


@pytest.fixture
def restore_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def test_installed_factory_rewrites_every_record(restore_factory: None, caplog: pytest.LogCaptureFixture) -> None:
    install(["client-secret-123"])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library").debug("calling with %s for %s", "client-secret-123", "+15550001111")
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logging.getLogger("some.library").exception("failed")
    assert "client-secret-123" not in caplog.text and "+15550001111" not in caplog.text and JWT not in caplog.text
    assert caplog.text.count(MASK) >= 3


async def test_json_lines_carry_the_record_being_handled_and_stay_masked(restore_factory: None) -> None:
    """LEC_LOG_FORMAT=json: one object per line; a task that handles a Kafka record names it in its lines, other
    tasks do not; secrets, tokens and numbers are masked as in text."""
    import asyncio
    import io
    import json

    from telemetry.logs import JsonFormatter, bind, handling

    install(["s3cr3t-value"], pii=False, record_fields=True)  # as configure does for json
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def handle_record() -> None:
        handling("lec.liveengage.commands", 2, 41)
        bind(event_id="cmd-7", conversation_id=None)
        bind(conversation_id="conv-9")
        logger.info("sent for +491701234567 with s3cr3t-value")
        try:
            raise ValueError(f"refused {JWT}")
        except ValueError:
            logger.exception("dead-lettering")

    try:
        await asyncio.gather(asyncio.create_task(handle_record()))
        logger.info("between records")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    sent, dead, between = lines
    assert sent["message"] == f"sent for {MASK} with {MASK}" and sent["level"] == "INFO"
    assert {k: sent[k] for k in ("topic", "partition", "offset", "event_id", "conversation_id")} == {
        "topic": "lec.liveengage.commands", "partition": 2, "offset": 41, "event_id": "cmd-7",
        "conversation_id": "conv-9"}
    assert dead["offset"] == 41 and JWT not in json.dumps(dead) and "ValueError" in dead["exception"]
    assert "topic" not in between and between["logger"] == "test.json" and between["time"].endswith("+00:00")
