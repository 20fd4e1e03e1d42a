"""Entry point: ``python -m gateways channel|liveengage --port N`` serves one bridge with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from gateways.channel.app import create_app as create_channel_app
from gateways.liveengage.app import create_app as create_webhook_app
from gateways.settings import ChannelBridgeSettings, WebhookBridgeSettings
from schemas import registry
from schemas import topics as catalogue
from telemetry import logs, startup
from telemetry.version import version

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped


def installed_as(default: str) -> str:
    """The command's name in its usage: ``lec-bridge`` when run as that, else ``default``."""
    name = os.path.basename(sys.argv[0])
    return name if name.startswith("lec-") else default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=installed_as("python -m gateways"), description="Serve one HTTP bridge: channel (the channel gateways' API) or "
        "liveengage (LiveEngage's webhooks).", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"channel bridge {startup.settings_help(ChannelBridgeSettings)}\n\n"
               f"webhook bridge {startup.settings_help(WebhookBridgeSettings)}")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("bridge", choices=["channel", "liveengage"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        settings: ChannelBridgeSettings | WebhookBridgeSettings
        if args.bridge == "channel":
            settings = ChannelBridgeSettings()  # type: ignore[call-arg]
            app = create_channel_app(settings)
        else:
            settings = WebhookBridgeSettings()  # type: ignore[call-arg]
            app = create_webhook_app(settings)
    except ValidationError as exc:
        print(startup.describe_invalid(exc), file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logs.configure(settings.log_level, settings.secrets(), pii=settings.log_pii, log_format=settings.log_format)
    startup.warn_unknown_settings(os.environ)
    try:  # before the first request: a schema the registry refuses stops the bridge before any record is written
        registry.connect(settings, catalogue.value_records())
    except registry.RegistryError as exc:
        print(exc, file=sys.stderr)
        return CONFIG_ERROR_EXIT
    logging.getLogger(__name__).info("%s bridge %s starting", args.bridge, version())
    # access_log off: request lines carry channel ids in paths at most, but stay quiet by default.
    # JSON: uvicorn's loggers go to the root's JSON handler instead of uvicorn's own text handlers.
    log_config: dict[str, Any] | None = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level=settings.log_level,
                log_config=log_config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
