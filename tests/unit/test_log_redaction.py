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
