"""``python -m streams conversations show|list`` against a running worker: it reads the state the worker holds
from the tables' changelogs without stopping it, masks personal data unless asked, finds a consumer by their
LiveEngage conversation, and shows a command waiting for its retry. The module's stack retries a Send API call
after 5 s, then 10 s, so a retry stays due long enough to be seen."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import Stack
from schemas.topics import consumer_key
from tests.conftest import wait_until
from tests.e2e.conftest import DEADLINE_S, Sandboxes, stack_of_its_own

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_of_its_own(tmp_path_factory, "inspection", retry_delays_s=[5, 10]) as running:
        yield running


@pytest.fixture
def sandboxes(sandboxes: Sandboxes) -> Iterator[Sandboxes]:
    yield sandboxes
    sandboxes.http.delete(f"{sandboxes.liveengage_url}/sandbox/faults")


def conversations(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", "conversations", *args], env=stack.worker_env("worker"),
                          capture_output=True, text=True, timeout=60)


def shown(stack: Stack, *args: str) -> dict[str, Any]:
    done = conversations(stack, "show", "--json", *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_show_and_list_an_open_conversation(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    conversation_id = sandboxes.open_conversation(consumer, "Where is my parcel?")
    key = consumer_key(sandboxes.channel_id, consumer)
    state = wait_until(lambda: (s := shown(stack, "--consumer", key))["status"] == "OPEN" and s, timeout=DEADLINE_S,
                       what="the open conversation in the changelog")
    assert state["conversation_id"] == conversation_id and state["account_id"] == stack.config.account_id
    assert state["consumer"] != key and consumer[-2:] in state["consumer"] and consumer not in json.dumps(state)
    assert state["ledger"] and state["consumer_jws"] == "held" and state["opted_out"] is False
    assert state["routes"] == {conversation_id: None}  # open

    text = conversations(stack, "show", "--consumer", key)
    assert text.returncode == 0 and "status            OPEN" in text.stdout and consumer not in text.stdout
    assert shown(stack, "--conversation", conversation_id)["consumer"] == state["consumer"]
    assert shown(stack, "--conversation", conversation_id, "--show-personal-data")["consumer"] == key

    listed = json.loads(conversations(stack, "list", "--status", "OPEN", "--json").stdout)
    assert conversation_id in {row["conversation_id"] for row in listed}
    assert consumer not in json.dumps(listed)
    closed = json.loads(conversations(stack, "list", "--status", "CLOSED", "--json").stdout)
    assert conversation_id not in {row["conversation_id"] for row in closed}

    sandboxes.consumer_says(consumer, "STOP")
    wait_until(lambda: shown(stack, "--consumer", key)["opted_out"], timeout=DEADLINE_S, what="the opt-out")


def test_a_command_waiting_for_its_retry(stack: Stack, sandboxes: Sandboxes, consumer: str) -> None:
    sandboxes.open_conversation(consumer, "first")
    faults = f"{stack.config.liveengage_url}/sandbox/faults"
    assert sandboxes.http.post(faults, json={"endpoint": "send", "status": 503, "count": 2}).status_code == 200
    sandboxes.consumer_says(consumer, "second, a secret text")
    key = consumer_key(sandboxes.channel_id, consumer)
    state = wait_until(lambda: (s := shown(stack, "--consumer", key))["retry_due"] and s, timeout=DEADLINE_S,
                       what="the retry in the state")
    assert state["retrying"] and state["retry_due"]["action"] == "PUBLISH_TEXT"
    assert [command["action"] for command in state["queued"]] == ["PUBLISH_TEXT"]
    assert state["queued"][0]["text_length"] == len("second, a secret text") and "secret" not in json.dumps(state)
    personal = shown(stack, "--consumer", key, "--show-personal-data")
    assert personal["queued"][0]["text"] == "second, a secret text"
    waiting = json.loads(conversations(stack, "list", "--waiting-longer-than", "0", "--json").stdout)
    assert [row["queued"] for row in waiting if row["consumer"] == state["consumer"]] == [1]
    wait_until(lambda: "second, a secret text" in sandboxes.published_texts(consumer), timeout=DEADLINE_S + 15,
               what="the text after its retries")
    wait_until(lambda: not (s := shown(stack, "--consumer", key))["queued"] and not s["retrying"],
               timeout=DEADLINE_S, what="the queue emptied in the changelog")


def test_unknown_consumers_and_missing_arguments(stack: Stack) -> None:
    unknown = conversations(stack, "show", "--consumer", "sandbox-sms:+15550000000")
    assert unknown.returncode == 1 and "holds no state" in unknown.stderr and "+15550000000" not in unknown.stderr
    assert conversations(stack, "show", "--conversation", "no-such-conversation").returncode == 1
    assert conversations(stack, "show").returncode == 2
