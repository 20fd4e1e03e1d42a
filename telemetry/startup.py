"""What a process says at start about its configuration: invalid settings as one line naming each variable (never
its value), and ``LEC_*`` variables no part of the connector reads, with the closest known name.

The bridges, the worker and the tools share one environment in compose and in most deployments, so a variable is
reported only when no process reads it; ``CONNECTOR_SETTINGS`` lists them all (a unit test keeps it equal to the
settings classes and the tools' own variables).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)

CONNECTOR_SETTINGS = frozenset({
    # bridges and worker (gateways.settings, streams.settings, kafkaclients.settings, schemas.registry)
    "LEC_ACCOUNT_BURST", "LEC_ACCOUNT_RATE", "LEC_ANALYTICS_KEY", "LEC_APP_ID", "LEC_BODY_TIMEOUT_S",
    "LEC_CHANNELS", "LEC_CHANNEL_BRIDGE_PUBLIC_URL", "LEC_CHANNEL_BURST", "LEC_CHANNEL_RATE", "LEC_COMMIT_EVERY",
    "LEC_CONSUMER_BURST", "LEC_CONSUMER_RATE", "LEC_DATA_DIR", "LEC_FOREIGN_EVENT_MAX_AGE_S",
    "LEC_HEARTBEAT_INTERVAL_S", "LEC_HTTP_TIMEOUT_S",
    "LEC_IN_FLIGHT", "LEC_PRODUCER_LINGER_MS", "LEC_STORE", "LEC_STATE_RETENTION_S", "LEC_STATE_SWEEP_INTERVAL_S",
    "LEC_KAFKA_BOOTSTRAP", "LEC_KAFKA_MIN_INSYNC_REPLICAS", "LEC_KAFKA_REPLICATION_FACTOR",
    "LEC_KAFKA_SASL_MECHANISM", "LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER", "LEC_KAFKA_SASL_PASSWORD",
    "LEC_KAFKA_SASL_USERNAME", "LEC_KAFKA_SECURITY_PROTOCOL", "LEC_KAFKA_SSL_CA_FILE", "LEC_KAFKA_SSL_CERT_FILE",
    "LEC_KAFKA_SSL_CHECK_HOSTNAME", "LEC_KAFKA_SSL_KEY_FILE", "LEC_KAFKA_SSL_KEY_PASSWORD", "LEC_KAFKA_TOPICS",
    "LEC_LIVEENGAGE_ACCOUNTS", "LEC_LIVEENGAGE_DOMAIN_API", "LEC_LIVEENGAGE_SCHEME", "LEC_LOG_FORMAT", "LEC_LOG_LEVEL",
    "LEC_LOG_PII",
    "LEC_MAX_BODY_BYTES", "LEC_MAX_FILE_BYTES", "LEC_PARKED_CONVERSATIONS_MAX", "LEC_PARKED_EVENTS_MAX",
    "LEC_PARTITIONS", "LEC_PRODUCE_TIMEOUT_S", "LEC_PUBLIC_WEBHOOK_URL", "LEC_RETRY_BASE_DELAY_S",
    "LEC_RETRY_DELAYS_S", "LEC_ROCKSDB_BLOCK_CACHE_MIB", "LEC_ROCKSDB_WRITE_BUFFER_MIB",
    "LEC_SCHEMA_REGISTRY_CA_FILE", "LEC_SCHEMA_REGISTRY_PASSWORD", "LEC_SCHEMA_REGISTRY_URL",
    "LEC_SCHEMA_REGISTRY_USERNAME", "LEC_SEND_ATTEMPTS", "LEC_SESSION_TIMEOUT_S", "LEC_STANDBY_REPLICAS",
    "LEC_WEBHOOK_MAX_RETRIES",
    "LEC_WEBHOOK_RETENTION_S", "LEC_WEBHOOK_SIGNATURE_ENCODINGS", "LEC_WEB_HOST", "LEC_WEB_PORT", "LEC_WIRE_FORMAT",
    # the sandbox console and the local stack
    "LEC_CONSOLE_HOST", "LEC_CONSOLE_PORT", "LEC_CONSOLE_TOKEN", "LEC_CONSOLE_LIVEENGAGE_URL",
    "LEC_CONSOLE_CHANNEL_URL", "LEC_KAFKA_PORT", "LEC_RUN_DIR", "LEC_PROMETHEUS_PORT", "LEC_DEVSTACK_OAUTH_SUBJECT",
    # the test suite's switches
    "LEC_CONSOLE_SCREENSHOTS", "LEC_DASHBOARD_PNG", "LEC_DASHBOARD_ROUNDS",
})


def describe_invalid(exc: ValidationError) -> str:
    """One line with every problem and the variable it comes from; input values (secrets) are left out."""
    problems = []
    for error in exc.errors(include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        location = error["loc"]
        if not location:  # a check across settings: its message starts with the variable's name
            problems.append(message)
            continue
        variable = f"LEC_{str(location[0]).upper()}"
        detail = ".".join(map(str, location[1:]))
        problems.append(f"{variable}{f' ({detail})' if detail else ''}: {message}")
    return "configuration error: " + "; ".join(problems)


def settings_help(settings: type[BaseModel]) -> str:
    """The settings a process reads, for its ``--help``: each variable's name, default and description. A
    default that is a secret is never printed (secrets have none: they come from the environment)."""
    lines = ["settings (environment variables):"]
    for name, field in sorted(settings.model_fields.items()):
        value = field.get_default(call_default_factory=True)
        default = "required" if field.is_required() else f"default {str(value) if isinstance(value, Path) else value!r}"
        if field.annotation is not None and "Secret" in str(field.annotation):
            default = "a secret" if field.is_required() else "a secret, optional"
        description = f": {field.description}" if field.description else ""
        lines.append(f"  LEC_{name.upper()} ({default}){description}")
    return "\n".join(lines)


# Kubernetes gives every pod variables for each Service of its namespace (unless enableServiceLinks is off), named
# after the Service: a release called "lec" has LEC_LEC_CONNECTOR_WORKER_SERVICE_HOST and the like.
SERVICE_LINK = re.compile(r"_SERVICE_(HOST|PORT(_[A-Z0-9_]+)?)$|_PORT_\d+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?$")


def unknown_settings(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each ``LEC_*`` variable that no process reads, with the closest known name (or None)."""
    found = []
    for name in sorted(environ):
        if SERVICE_LINK.search(name) or (name.endswith("_PORT") and
                                         environ[name].startswith(("tcp://", "udp://", "sctp://"))):
            continue
        if name.startswith("LEC_") and name not in CONNECTOR_SETTINGS:
            close = difflib.get_close_matches(name, CONNECTOR_SETTINGS, n=1, cutoff=0.6)
            found.append((name, close[0] if close else None))
    return found


def warn_unknown_settings(environ: Mapping[str, str]) -> None:
    for name, close in unknown_settings(environ):
        hint = f"; did you mean {close}?" if close else ""
        logger.warning("%s is not a setting of the connector and is ignored%s", name, hint)
