"""The ingress baseline: a bare ASGI app on the bridges' server stack (uvicorn, same options) that reads the POST
body and answers 200 JSON, doing nothing else. ``python -m bench.bare --port N``."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

ANSWER = b'{"status":"accepted","events":1}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the whole body, as a bridge must before it can verify a signature
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
