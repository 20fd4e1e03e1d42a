"""The sandboxes' command lines drive a consumer and an agent through the running stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack.stack import Stack
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes

pytestmark = pytest.mark.e2e


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_consumer_and_agent_from_the_command_line(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    channel, liveengage = stack.config.channel_url, stack.config.liveengage_url
    cli("emulators.channel", "consumer-says", "--url", channel, "--consumer", consumer, "hello from the CLI")
    wait_until(lambda: sandboxes.published_texts(consumer), timeout=DEADLINE_S, what="the consumer's text")
    listed = cli("emulators.liveengage", "conversations", "--url", liveengage,
                 "--consumer", sandboxes.ext_consumer_id(consumer))
    conversation_id = listed.split()[0]
    assert "hello from the CLI" in listed
    cli("emulators.liveengage", "agent-says", "--url", liveengage, "--conversation", conversation_id, "Hi there")
    cli("emulators.liveengage", "agent", "messages", "--url", liveengage, "--conversation", conversation_id,
        "--json", json.dumps({"content": {"type": "vertical", "elements": [{"type": "button", "title": "OK"}]}}))
    cli("emulators.liveengage", "agent", "typing", "--url", liveengage, "--conversation", conversation_id,
        "--json", '{"state": "COMPOSING"}')
    wait_until(lambda: len(sandboxes.outbox(consumer)) >= 3, timeout=DEADLINE_S, what="three outbound messages")
    shown = cli("emulators.channel", "outbox", "--url", channel, "--consumer", consumer)
    assert "Hi there" in shown and "1. OK" in shown and '"typing": true' in shown
