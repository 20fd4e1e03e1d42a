"""``make demo``: against a running ``make run``, a consumer writes, the agent answers, and both arrive.

The consumer's text goes channel sandbox → channel bridge → Kafka → worker → LiveEngage sandbox; the agent's
reply goes LiveEngage sandbox → signed webhook → webhook bridge → Kafka → worker → channel sandbox.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from devstack.stack import StackConfig

TIMEOUT_S = 30.0


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    print(f"  ... gave up waiting for {what} after {TIMEOUT_S:.0f}s (is `make run` running?)")
    sys.exit(1)


def main() -> int:
    config = StackConfig()
    consumer = f"+1555{uuid.uuid4().int % 10**7:07d}"
    text = "Hello, my parcel has not arrived."
    reply = "Sorry to hear that! Let me check your order."
    print(f"consumer {consumer} writes through the channel sandbox: {text!r}")
    sent = httpx.post(f"{config.channel_url}/sandbox/consumers/{consumer}/messages",
                      json={"text": text, "profile": {"first_name": "Demo", "language": "en-US"}}).json()
    print(f"  channel bridge answered {sent.get('bridge_status')}")
    ext_id = f"{config.channel_id}:{consumer}"

    def conversation_with_text() -> dict[str, Any] | None:
        found = httpx.get(f"{config.liveengage_url}/sandbox/conversations",
                          params={"ext_consumer_id": ext_id}).json()["conversations"]
        for conversation in found:
            if any(e["event"].get("message") == text for d in conversation["dialogs"] for e in d["events"]):
                return dict(conversation)
        return None

    conversation = wait_for("the conversation in the LiveEngage sandbox", conversation_with_text)
    print(f"LiveEngage sandbox: conversation {conversation['conversation_id']} is {conversation['state']}, "
          f"SDEs {[s['type'] for s in conversation['sdes']]}, consumer text received")
    print(f"the agent answers: {reply!r}")
    httpx.post(f"{config.liveengage_url}/sandbox/conversations/{conversation['conversation_id']}/agent/messages",
               json={"text": reply}).raise_for_status()

    def reply_in_outbox() -> bool:
        messages = httpx.get(f"{config.channel_url}/sandbox/outbox", params={"consumer_id": consumer}).json()
        return any(m["text"] == reply for m in messages["messages"])

    wait_for("the reply at the channel sandbox", reply_in_outbox)
    print(f"channel sandbox: consumer {consumer} received {reply!r}")
    print("both directions work.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
