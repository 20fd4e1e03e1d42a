"""``python -m emulators.channel serve|consumer-says|outbox``: run the channel sandbox or play the consumer.

Every option can also come from the environment as ``CHANNEL_SANDBOX_<OPTION>``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import httpx
import uvicorn

from emulators import version
from emulators.channel.app import ChannelConfig, create_app
from emulators.channel.twilio import TwilioNumber


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CHANNEL_SANDBOX_{name.upper()}", default)


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = ChannelConfig(args.channel_id, args.bridge_url, args.signing_secret, args.outbound_token,
                           public_url=args.public_url or f"http://{args.host}:{args.port}")
    # Twilio numbers come from the environment only (they hold auth tokens): a JSON list of objects with
    # channel_id, account_sid, auth_token, number and webhook_url.
    numbers = [TwilioNumber(**number) for number in json.loads(env("twilio_numbers", "[]") or "[]")]
    uvicorn.run(create_app(config, numbers), host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


def consumer_says(args: argparse.Namespace) -> int:
    params = {"channel_id": args.channel} if args.channel else {}
    response = httpx.post(f"{args.url}/sandbox/consumers/{args.consumer}/messages", params=params,
                          json={"text": args.text})
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success and response.json().get("bridge_status") in (200, 202) else 1


def outbox(args: argparse.Namespace) -> int:
    params = {"consumer_id": args.consumer} if args.consumer else {}
    for message in httpx.get(f"{args.url}/sandbox/outbox", params=params).json()["messages"]:
        shown = {key: message[key] for key in ("text", "typing", "receipt", "notice", "choices") if key in message}
        print(f"{message['consumer_id']}  <- {message.get('type', 'text'):7} {json.dumps(shown, ensure_ascii=False)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.channel")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the channel gateway sandbox",
                              epilog="Each option's default comes from CHANNEL_SANDBOX_<OPTION> "
                                     "(CHANNEL_SANDBOX_SIGNING_SECRET for --signing-secret); Twilio numbers from "
                                     "CHANNEL_SANDBOX_TWILIO_NUMBERS only (they hold auth tokens).")
    run.add_argument("--host", default=env("host", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(env("port", "8091") or 8091))
    run.add_argument("--public-url", default=env("public_url"),
                     help="the sandbox's URL as the connector reaches it, in the file links it gives out "
                          "(default: http://HOST:PORT)")
    run.add_argument("--channel-id", default=env("channel_id", "sandbox-sms"))
    run.add_argument("--bridge-url", default=env("bridge_url", "http://127.0.0.1:8081"))
    run.add_argument("--signing-secret", default=env("signing_secret"), required=env("signing_secret") is None)
    run.add_argument("--outbound-token", default=env("outbound_token"), required=env("outbound_token") is None)
    run.set_defaults(handler=serve)
    say = commands.add_parser("consumer-says", help="a consumer sends a text through the channel")
    say.add_argument("--url", default=env("url", "http://127.0.0.1:8091"))
    say.add_argument("--consumer", required=True)
    say.add_argument("--channel", help="the channel to text on (default: the sandbox's generic channel)")
    say.add_argument("text")
    say.set_defaults(handler=consumer_says)
    listing = commands.add_parser("outbox", help="what consumers received")
    listing.add_argument("--url", default=env("url", "http://127.0.0.1:8091"))
    listing.add_argument("--consumer")
    listing.set_defaults(handler=outbox)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
