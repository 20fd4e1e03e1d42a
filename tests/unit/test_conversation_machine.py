"""The conversation state machine: its transition table, and the README's drawing of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.conversation import TRANSITIONS, InvalidTransitionError, Status, Trigger, can, mermaid, next_status

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(("status", "trigger", "expected"), [
    (Status.CLOSED, Trigger.CONSUMER_MESSAGE, Status.OPENING),
    (Status.OPENING, Trigger.OPENED, Status.OPEN),
    (Status.OPENING, Trigger.ADOPTED, Status.OPEN),
    (Status.OPENING, Trigger.QUEUED, Status.OPENING),
    (Status.CLOSED, Trigger.ADOPTED, Status.OPEN),
    (Status.OPENING, Trigger.OPEN_FAILED, Status.CLOSED),
    (Status.OPEN, Trigger.FOUND_CLOSED, Status.OPENING),
    (Status.OPEN, Trigger.TRANSFERRED, Status.OPEN),
    (Status.OPEN, Trigger.SURVEY_OPENED, Status.SURVEY),
    (Status.OPEN, Trigger.AGENT_CLOSE, Status.CLOSED),
    (Status.OPEN, Trigger.SYSTEM_CLOSE, Status.CLOSED),
    (Status.OPEN, Trigger.CONSUMER_CLOSE, Status.CLOSED),
    (Status.SURVEY, Trigger.CONSUMER_MESSAGE, Status.SURVEY),
    (Status.SURVEY, Trigger.SURVEY_CLOSED, Status.CLOSED),
])
def test_transitions(status: Status, trigger: Trigger, expected: Status) -> None:
    assert next_status(status, trigger) is expected
    assert next_status(status.value, trigger) is expected


@pytest.mark.parametrize(("status", "trigger"), [
    (Status.CLOSED, Trigger.AGENT_CLOSE),
    (Status.CLOSED, Trigger.OPENED),
    (Status.OPENING, Trigger.CONSUMER_MESSAGE),
    (Status.SURVEY, Trigger.SURVEY_OPENED),
    (Status.SURVEY, Trigger.TRANSFERRED),
])
def test_missing_edges_are_refused(status: Status, trigger: Trigger) -> None:
    assert not can(status, trigger)
    with pytest.raises(InvalidTransitionError):
        next_status(status, trigger)


def test_every_status_is_reachable_and_can_close() -> None:
    reachable = {Status.CLOSED} | set(TRANSITIONS.values())
    assert reachable == set(Status)
    for status in (Status.OPEN, Status.SURVEY):
        assert any(target is Status.CLOSED for (source, _), target in TRANSITIONS.items() if source is status)


def test_readme_draws_exactly_this_machine() -> None:
    assert f"```mermaid\n{mermaid()}\n```" in README.read_text()
