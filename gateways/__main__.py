"""Entry point: ``python -m gateways channel|liveengage --port N`` serves one bridge with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from gateways.channel.app import create_app as create_channel_app
from gateways.liveengage.app import create_app as create_webhook_app
from gateways.settings import ChannelBridgeSettings, WebhookBridgeSettings

CONFIG_ERROR_EXIT = 78  # EX_CONFIG: Kubernetes shows why the process stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateways")
    parser.add_argument("bridge", choices=["channel", "liveengage"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.bridge == "channel":
            app = create_channel_app(ChannelBridgeSettings())  # type: ignore[call-arg]
        else:
            app = create_webhook_app(WebhookBridgeSettings())  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        print(f"configuration error (LEC_* variables): {problems}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    # access_log off: request lines carry consumer ids in channel paths at most, but stay quiet by default.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
