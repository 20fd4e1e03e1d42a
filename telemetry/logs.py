"""Logging that keeps secrets and consumers' personal data out of log lines.

The code logs identifiers only; this is the second line of defence, for third-party libraries too. Every log
record is rewritten as it is created: configured secrets and anything shaped like a JWT (AppJWT, ConsumerJWS)
are always masked; E.164 phone numbers are masked unless PII logging was explicitly enabled.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
PHONE = re.compile(r"\+\d{6,15}")
MASK = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def redact(text: str, secrets: Iterable[str], *, pii: bool) -> str:
    """``text`` with secrets and tokens masked, and phone numbers too unless ``pii``. Pure."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = JWT.sub(MASK, text)
    return text if pii else PHONE.sub(MASK, text)


def install(secrets: Iterable[str], *, pii: bool = False) -> None:
    """Rewrite every log record from now on (whoever configures handlers later, Faust included)."""
    known = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
    create = logging.getLogRecordFactory()

    def safe_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = create(*args, **kwargs)
        message = record.getMessage()
        cleaned = redact(message, known, pii=pii)
        if record.exc_info and record.exc_info[1] is not None:
            cleaned_exc = redact(str(record.exc_info[1]), known, pii=pii)
            if cleaned_exc != str(record.exc_info[1]):
                record.exc_text = f"{record.exc_info[0].__name__ if record.exc_info[0] else 'Error'}: {cleaned_exc}"
                record.exc_info = None
        if cleaned != message:
            record.msg, record.args = cleaned, ()  # () not None: some formatters iterate the args
        return record

    logging.setLogRecordFactory(safe_record)


# At DEBUG these libraries log whole Kafka records and HTTP bodies: texts, numbers, tokens.
PAYLOAD_LOGGERS = ("aiokafka", "faust", "mode", "httpx", "httpcore", "aiohttp", "uvicorn")


def configure(level: str, secrets: Iterable[str], *, pii: bool = False) -> None:
    """Configure the root logger once; DEBUG stays on for our own modules, and reaches the libraries that log
    payloads only when PII logging is enabled too."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    if level.lower() == "debug" and not pii:
        for name in PAYLOAD_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    elif level.lower() != "debug":
        # httpx logs every request's URL at INFO (the Schema Registry's at start, gateways' URLs): debugging only.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    install(secrets, pii=pii)
