"""The conversation state machine of one consumer, as the worker's ``conversations`` table keeps it.

The table is written only by ``send_to_liveengage``, which applies one consumer's commands in partition order:
a command that arrives while a conversation is opening waits behind the opening in the partition. When
LiveEngage answers that the consumer "already has open conversation" (one the connector did not open or lost
track of), the texts and files are queued in the state, in order, until LiveEngage's notification of that
conversation reaches the consumer (``ADOPTED``); then they are sent into it. Nothing is lost or reordered. ``TRANSITIONS`` is the whole machine; the README's diagram is ``mermaid()`` of it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Status(StrEnum):
    CLOSED = "CLOSED"  # no conversation: the consumer's next text or file opens one
    OPENING = "OPENING"  # CONVERSATION sent, its answer not yet applied (persisted, so a crash shows it)
    OPEN = "OPEN"  # texts, files, receipts and chat states go to the MAIN dialog
    SURVEY = "SURVEY"  # MAIN dialog closed; texts answer the post-conversation survey dialog


class Trigger(StrEnum):
    CONSUMER_MESSAGE = "consumer text or file"
    QUEUED = "consumer text or file (queued)"
    ADOPTED = "LiveEngage reports a conversation open"
    OPENED = "conversation opened"
    OPEN_FAILED = "opening refused"
    FOUND_CLOSED = "Conversation is close (reopen, resend)"
    TRANSFERRED = "skill or agent changed"
    CONSUMER_CLOSE = "consumer closes"
    AGENT_CLOSE = "agent closes"
    SYSTEM_CLOSE = "system auto-close"
    SURVEY_OPENED = "post-conversation survey opens"
    SURVEY_CLOSED = "survey dialog closes"


class InvalidTransitionError(ValueError):
    pass


TRANSITIONS: dict[tuple[Status, Trigger], Status] = {
    (Status.CLOSED, Trigger.CONSUMER_MESSAGE): Status.OPENING,
    (Status.CLOSED, Trigger.ADOPTED): Status.OPEN,
    (Status.OPENING, Trigger.QUEUED): Status.OPENING,
    (Status.OPENING, Trigger.OPENED): Status.OPEN,
    (Status.OPENING, Trigger.ADOPTED): Status.OPEN,
    (Status.OPENING, Trigger.OPEN_FAILED): Status.CLOSED,
    (Status.OPEN, Trigger.CONSUMER_MESSAGE): Status.OPEN,
    (Status.OPEN, Trigger.TRANSFERRED): Status.OPEN,
    (Status.OPEN, Trigger.FOUND_CLOSED): Status.OPENING,
    (Status.OPEN, Trigger.CONSUMER_CLOSE): Status.CLOSED,
    (Status.OPEN, Trigger.AGENT_CLOSE): Status.CLOSED,
    (Status.OPEN, Trigger.SYSTEM_CLOSE): Status.CLOSED,
    (Status.OPEN, Trigger.SURVEY_OPENED): Status.SURVEY,
    (Status.SURVEY, Trigger.CONSUMER_MESSAGE): Status.SURVEY,
    (Status.SURVEY, Trigger.FOUND_CLOSED): Status.OPENING,
    (Status.SURVEY, Trigger.CONSUMER_CLOSE): Status.CLOSED,
    (Status.SURVEY, Trigger.SURVEY_CLOSED): Status.CLOSED,
    (Status.SURVEY, Trigger.AGENT_CLOSE): Status.CLOSED,
    (Status.SURVEY, Trigger.SYSTEM_CLOSE): Status.CLOSED,
}

CLOSE_TRIGGERS = {"AGENT": Trigger.AGENT_CLOSE, "SYSTEM": Trigger.SYSTEM_CLOSE, "CONSUMER": Trigger.CONSUMER_CLOSE}


def is_over(change: dict[str, Any]) -> bool:
    """Whether a ConversationChange reports the conversation as over.

    While a post-conversation survey runs, LiveEngage reports ``state`` CLOSE with ``stage`` OPEN, the MAIN
    dialog closed and a POST_SURVEY dialog open; the conversation is over once ``stage`` is CLOSE too
    (developer-center: Messaging Window API tutorial ``post-conversation-survey-pcs.md``). Older notifications
    have no stage (Connector API ``Webhooks/webhooks-examples.md``): then CLOSE without an open survey is over.
    """
    if change.get("stage") is not None:
        return bool(change["stage"] == "CLOSE")
    return bool(change["state"] == "CLOSE" and change["dialog_type"] != "POST_SURVEY")


def next_status(status: Status | str, trigger: Trigger) -> Status:
    """The status after ``trigger``; ``InvalidTransitionError`` when the machine has no such edge."""
    try:
        return TRANSITIONS[(Status(status), trigger)]
    except KeyError:
        message = f"no transition from {status} on {trigger.value!r}"
        raise InvalidTransitionError(message) from None


def can(status: Status | str, trigger: Trigger) -> bool:
    return (Status(status), trigger) in TRANSITIONS


def mermaid() -> str:
    """The machine as a mermaid state diagram (the README shows exactly this)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Status.CLOSED.value}"]
    lines += [f"    {source.value} --> {target.value}: {trigger.value}"
              for (source, trigger), target in TRANSITIONS.items()]
    return "\n".join(lines)
