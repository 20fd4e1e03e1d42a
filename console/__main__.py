"""``python -m console``: serve the sandbox console (``make run`` starts it and prints its URL).

Every option can also come from the environment as ``LEC_CONSOLE_<OPTION>``. On an address other than loopback a
token is required (``LEC_CONSOLE_TOKEN``): the console drives both sandboxes and replays dead letters.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys

import uvicorn
from pydantic import ValidationError

from console.app import ConsoleConfig, create_app
from kafkaclients import KafkaConnection
from schemas import registry
from schemas.registry import RegistrySettings
from telemetry import logs, startup
from telemetry.version import version

CONFIG_ERROR_EXIT = 78


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"LEC_CONSOLE_{name.upper()}", default)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m console", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="also: LEC_CONSOLE_TOKEN (a secret; required unless --host is a loopback address), the LEC_KAFKA_* "
               "settings of Kafka's security and the LEC_SCHEMA_REGISTRY_* ones (python -m streams --help)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--host", default=env("host", "127.0.0.1"), help="LEC_CONSOLE_HOST; default 127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env("port", "8095") or 8095),
                        help="LEC_CONSOLE_PORT; default 8095")
    parser.add_argument("--kafka-bootstrap", default=os.environ.get("LEC_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                        help="LEC_KAFKA_BOOTSTRAP; default 127.0.0.1:9092")
    parser.add_argument("--liveengage-url", default=env("liveengage_url", "http://127.0.0.1:8090"),
                        help="the LiveEngage sandbox; LEC_CONSOLE_LIVEENGAGE_URL")
    parser.add_argument("--channel-url", default=env("channel_url", "http://127.0.0.1:8091"),
                        help="the channel sandbox; LEC_CONSOLE_CHANNEL_URL")
    parser.add_argument("--partitions", type=int, default=int(os.environ.get("LEC_PARTITIONS", "4")),
                        help="LEC_PARTITIONS, as the worker's; default 4")
    parser.add_argument("--app-id", default=os.environ.get("LEC_APP_ID", "lec-worker"),
                        help="LEC_APP_ID, as the worker's; default lec-worker")
    args = parser.parse_args(argv)
    token = env("token") or None
    if token is None and not is_loopback(args.host):
        print(f"configuration error: LEC_CONSOLE_TOKEN is required to listen on {args.host}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    try:
        kafka = KafkaConnection(kafka_bootstrap=args.kafka_bootstrap)
        registry_settings = RegistrySettings()
    except ValidationError as exc:
        print(startup.describe_invalid(exc), file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logs.configure("info", ([token] if token else []) + kafka.kafka_secrets() + registry_settings.registry_secrets())
    startup.warn_unknown_settings(os.environ)
    registry.connect(registry_settings)  # the dead-letter pages read the registry's format too when it is set
    # The page polls the sandboxes every second with consumer numbers in the URLs, and reads Kafka anew for each
    # dead-letter listing: neither belongs in the log.
    for noisy in ("httpx", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(ConsoleConfig(kafka, args.liveengage_url, args.channel_url, args.partitions,
                                   args.app_id, token))
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
