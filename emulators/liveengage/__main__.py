"""``python -m emulators.liveengage serve|agent-says|conversations``: run the sandbox or drive an agent in it.

Every option can also come from the environment as ``LE_SANDBOX_<OPTION>`` (e.g. ``LE_SANDBOX_CLIENT_SECRET``).
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
from emulators.liveengage.api import EmulatorConfig
from emulators.liveengage.app import create_app
from emulators.liveengage.webhooks import Signing


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"LE_SANDBOX_{name.upper()}", default)


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = EmulatorConfig(account_id=args.account_id, client_id=args.client_id, client_secret=args.client_secret,
                            host=args.public_host or args.host, port=args.port, app_jwt_ttl_s=args.app_jwt_ttl,
                            peers=dict(peer.split("=", 1) for peer in args.peer))
    app = create_app(config, admin_token=args.admin_token, webhook_url=args.webhook_url,
                     webhook_max_retries=args.webhook_max_retries, retry_interval_s=args.retry_interval,
                     ttl_first_delay_s=args.ttl_first_delay,
                     signing=Signing(args.signature_algorithm, args.signature_encoding))
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


def agent_action(url: str, conversation: str, action: str, body: dict[str, object]) -> int:
    response = httpx.post(f"{url}/sandbox/conversations/{conversation}/agent/{action}", json=body)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


def agent_says(args: argparse.Namespace) -> int:
    return agent_action(args.url, args.conversation, "messages", {"text": args.text})


def agent_does(args: argparse.Namespace) -> int:
    """One console action with its JSON body, e.g. ``agent close --json '{"survey": true}'``."""
    body = json.loads(args.json) if args.json else {}
    return agent_action(args.url, args.conversation, args.action, body)


def conversations(args: argparse.Namespace) -> int:
    params = {"ext_consumer_id": args.consumer} if args.consumer else {}
    response = httpx.get(f"{args.url}/sandbox/conversations", params=params)
    for conversation in response.json()["conversations"]:
        texts = [e["event"].get("message") for d in conversation["dialogs"] for e in d["events"]
                 if e["event"].get("type") == "ContentEvent"]
        print(f"{conversation['conversation_id']}  {conversation['state']:5}  {conversation['ext_consumer_id']}  "
              f"{json.dumps(texts, ensure_ascii=False)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.liveengage")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the LiveEngage sandbox",
                              epilog="Each option's default comes from LE_SANDBOX_<OPTION> (LE_SANDBOX_CLIENT_SECRET "
                                     "for --client-secret): secrets belong in the environment, not the command line.")
    run.add_argument("--host", default=env("host", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(env("port", "8090") or 8090))
    run.add_argument("--public-host", default=env("public_host"),
                     help="the host name the Domain API gives out for this sandbox (default: --host), e.g. its "
                          "container's name when it listens on 0.0.0.0")
    run.add_argument("--account-id", default=env("account_id"), required=env("account_id") is None)
    run.add_argument("--client-id", default=env("client_id"), required=env("client_id") is None)
    run.add_argument("--client-secret", default=env("client_secret"), required=env("client_secret") is None)
    run.add_argument("--admin-token", default=env("admin_token"), required=env("admin_token") is None,
                     help="bearer token the App Installation API accepts")
    run.add_argument("--webhook-url", default=env("webhook_url"),
                     help="pre-register this URL for every event type (else register through the API)")
    run.add_argument("--webhook-max-retries", type=int, default=int(env("webhook_max_retries", "3") or 3))
    run.add_argument("--retry-interval", type=float, default=float(env("retry_interval", "30") or 30),
                     help="seconds between number-based webhook retries (LiveEngage: 30)")
    run.add_argument("--ttl-first-delay", type=float, default=float(env("ttl_first_delay", "2") or 2),
                     help="first backoff of time-to-live webhook retries (LiveEngage: 2)")
    run.add_argument("--app-jwt-ttl", type=int, default=int(env("app_jwt_ttl", "3600") or 3600))
    run.add_argument("--peer", action="append", default=[], metavar="ACCOUNT=HOST:PORT",
                     help="another account's sandbox, which this one's Domain API points at (repeatable)")
    run.add_argument("--signature-algorithm", choices=["sha1", "sha256"], default=env("signature_algorithm", "sha1"))
    run.add_argument("--signature-encoding", choices=["base64", "hex"], default=env("signature_encoding", "base64"))
    run.set_defaults(handler=serve)
    say = commands.add_parser("agent-says", help="the conversation's agent sends a text")
    say.add_argument("--url", default=env("url", "http://127.0.0.1:8090"))
    say.add_argument("--conversation", required=True)
    say.add_argument("text")
    say.set_defaults(handler=agent_says)
    act = commands.add_parser("agent", help="any agent action: messages, receipts, typing, transfer, close, "
                                            "survey/close (body as --json)")
    act.add_argument("action", choices=["messages", "receipts", "typing", "transfer", "close", "survey/close", "files"])
    act.add_argument("--url", default=env("url", "http://127.0.0.1:8090"))
    act.add_argument("--conversation", required=True)
    act.add_argument("--json", help='the action\'s body, e.g. \'{"content": {...}}\' or \'{"skill_id": "42"}\'')
    act.set_defaults(handler=agent_does)
    listing = commands.add_parser("conversations", help="list conversations and their texts")
    listing.add_argument("--url", default=env("url", "http://127.0.0.1:8090"))
    listing.add_argument("--consumer", help="only this ext_consumer_id")
    listing.set_defaults(handler=conversations)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
