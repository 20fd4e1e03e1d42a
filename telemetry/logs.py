"""Logging that keeps secrets and consumers' personal data out of log lines, as text or as JSON.

The code logs identifiers only; this is the second line of defence, for third-party libraries too. Every log
record is rewritten as it is created: configured secrets and anything shaped like a JWT (AppJWT, ConsumerJWS)
are always masked; E.164 phone numbers are masked unless PII logging was explicitly enabled.

``LEC_LOG_FORMAT=json`` writes one JSON object per line for a log pipeline: time, level, logger, message, the
exception if any, and the Kafka record the worker was handling when it logged (``topic``, ``partition``,
``offset``, ``event_id``, ``conversation_id``: identifiers, never the consumer's), bound per task with
``handling`` and ``bind``. The same masking applies: fields are written from the rewritten record.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Literal

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


# The Kafka record the current task handles (each of the worker's records runs in a task of its own).
_handled: ContextVar[dict[str, Any] | None] = ContextVar("lec_log_record", default=None)
CONTEXT_FIELDS = ("topic", "partition", "offset", "event_id", "conversation_id")


def handling(topic: str, partition: int, offset: int) -> None:
    """This task handles that record from now on: its log records carry where it came from."""
    _handled.set({"topic": topic, "partition": partition, "offset": offset})


def bind(**fields: str | None) -> None:
    """Add what the task learned of its record (``event_id``, ``conversation_id``) to its log records."""
    known = {name: value for name, value in fields.items() if value is not None and name in CONTEXT_FIELDS}
    if known:
        _handled.set({**(_handled.get() or {}), **known})


class JsonFormatter(logging.Formatter):
    """One JSON object per line (module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "lec_record", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def install(secrets: Iterable[str], *, pii: bool = False, record_fields: bool = False) -> None:
    """Rewrite every log record from now on (whoever configures handlers later, Faust included)."""
    known = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
    create = logging.getLogRecordFactory()

    def safe_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = create(*args, **kwargs)
        # Only the JSON format writes the record's fields: text pays nothing for them on every log call.
        handled = _handled.get() if record_fields else None
        # Its ids come from gateways and LiveEngage: masked like the message.
        record.lec_record = handled and {name: redact(value, known, pii=pii) if isinstance(value, str) else value
                                         for name, value in handled.items()}
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


LogFormat = Literal["text", "json"]


def handler_config(level: str, log_format: LogFormat) -> dict[str, Any] | None:
    """A ``logging.config.dictConfig`` for the root logger in ``log_format``, for a framework that configures
    logging itself (Faust's worker); None for text, the framework's own format."""
    if log_format == "text":
        return None
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "level": level.upper()}},
            "root": {"level": level.upper(), "handlers": ["default"]}}


def configure(level: str, secrets: Iterable[str], *, pii: bool = False, log_format: LogFormat = "text") -> None:
    """Configure the root logger once; DEBUG stays on for our own modules, and reaches the libraries that log
    payloads only when PII logging is enabled too."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level.upper(), handlers=[handler])
    else:
        logging.basicConfig(level=level.upper(), format=FORMAT)
    if level.lower() == "debug" and not pii:
        for name in PAYLOAD_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    elif level.lower() != "debug":
        # httpx logs every request's URL at INFO (the Schema Registry's at start, gateways' URLs): debugging only.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    install(secrets, pii=pii, record_fields=log_format == "json")
