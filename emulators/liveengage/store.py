"""The sandbox's conversations: dialogs, participants, sequenced events, and the notifications they produce.

Shapes follow LivePerson's developer-center pages: the Connector API ``Webhooks/webhooks-examples.md`` and
``Webhooks/events.md`` for notifications, and the Messaging Window API tutorial ``post-conversation-survey-pcs.md``
for multi-dialog conversations: while a survey runs the conversation's ``state`` is CLOSE (the MAIN dialog's
state) and its ``stage`` OPEN, the survey has a POST_SURVEY dialog of its own, and the stage closes when the
survey ends (its dialog's ``closedCause`` says how).

Two notification shapes are played (``Store.shape``): ``current`` as above, and ``older``, as the older examples
of ``webhooks-examples.md`` show them: messaging changes with only ``dialogId`` (no ``conversationId`` nor
``messageAudience``) and conversation changes without ``dialogs``, ``stage`` and ``skillId``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

MESSAGING = "ms.MessagingEventNotification"
CONVERSATION_CHANGE = "cqm.ExConversationChangeNotification"
UNSEQUENCED_EVENTS = ("ChatStateEvent",)
SHAPES = ("current", "older")


CONTROLLER_ID = "22815dea-5b5c-5c8f-a4bf-2e52a0f6820a"  # LiveEngage's controller bot, as the PCS tutorial shows it


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Dialog:
    dialog_id: str
    dialog_type: str
    creation_ts: int
    state: str = "OPEN"
    end_ts: int | None = None
    closed_by: str | None = None
    closed_cause: str | None = None
    meta_ts: int = 0
    next_sequence: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Conversation:
    conversation_id: str
    account_id: str
    consumer_id: str
    ext_consumer_id: str
    skill_id: str
    start_ts: int
    sdes: list[dict[str, Any]] = field(default_factory=list)
    campaign_info: dict[str, Any] | None = None
    state: str = "OPEN"  # since multi-dialog conversations: the MAIN dialog's state
    stage: str = "OPEN"  # the whole conversation's: CLOSE once every dialog, a survey's too, is over
    close_reason: str | None = None
    end_ts: int | None = None
    meta_ts: int = 0
    agent_id: str | None = None
    survey_bot_id: str | None = None
    csat: dict[str, Any] | None = None
    dialogs: list[Dialog] = field(default_factory=list)

    @property
    def main_dialog(self) -> Dialog:
        return self.dialogs[0]

    def dialog(self, dialog_id: str) -> Dialog | None:
        return next((d for d in self.dialogs if d.dialog_id == dialog_id), None)

    def touch(self) -> int:
        """Bump metaDataLastUpdateTs strictly, so notifications can be ordered by it."""
        self.meta_ts = max(now_ms(), self.meta_ts + 1)
        return self.meta_ts

    def participants(self) -> list[dict[str, str]]:
        people = [{"id": self.consumer_id, "role": "CONSUMER"}]
        if self.agent_id:
            people.append({"id": self.agent_id, "role": "ASSIGNED_AGENT"})
        if self.survey_bot_id:
            # post-conversation-survey-pcs.md: the agent stays as ASSIGNED_AGENT and READER, the survey bot joins
            # as AGENT, its controller as CONTROLLER.
            if self.agent_id:
                people.append({"id": self.agent_id, "role": "READER"})
            people += [{"id": self.survey_bot_id, "role": "AGENT"}, {"id": CONTROLLER_ID, "role": "CONTROLLER"}]
        return people

    def dialog_participants(self, dialog: Dialog) -> list[dict[str, str]]:
        if dialog.dialog_type == "POST_SURVEY":
            people = [{"id": self.consumer_id, "role": "CONSUMER"}, {"id": str(self.survey_bot_id), "role": "AGENT"}]
            return people + ([{"id": self.agent_id, "role": "READER"}] if self.agent_id else [])
        return [p for p in self.participants() if p["role"] in ("CONSUMER", "ASSIGNED_AGENT")]

    def publish(self, dialog: Dialog, originator_id: str, role: str, event: dict[str, Any],
                audience: str = "ALL", metadata: list[dict[str, Any]] | None = None, *,
                dialog_only: bool = False) -> dict[str, Any]:
        """Append an event to a dialog; return the change as webhooks carry it (sequenced unless a chat state).
        ``dialog_only``: the change names its dialog only, as the survey bot's questions in
        post-conversation-survey-pcs.md do."""
        change: dict[str, Any] = {
            "originatorId": originator_id,
            "originatorMetadata": {"id": originator_id, "role": role},
            "event": event,
            "dialogId": dialog.dialog_id,
        }
        if not dialog_only:
            change.update(conversationId=self.conversation_id, messageAudience=audience)
        if event.get("type") not in UNSEQUENCED_EVENTS:
            change["sequence"] = dialog.next_sequence
            change["serverTimestamp"] = now_ms()
            dialog.next_sequence += 1
        if metadata:
            change["metadata"] = metadata
        dialog.events.append(change)
        return change

    def open_survey(self, bot_id: str) -> Dialog:
        """Close the MAIN dialog as the agent and open a POST_SURVEY dialog with its own id: the conversation's
        state is CLOSE, its stage still OPEN (post-conversation-survey-pcs.md, step 9)."""
        changed = self.touch()
        main = self.main_dialog
        main.state, main.end_ts, main.closed_by, main.meta_ts = "CLOSE", changed, "AGENT", changed
        main.closed_cause = "Closed by agent"
        self.state, self.close_reason, self.survey_bot_id = "CLOSE", "AGENT", bot_id
        survey = Dialog(str(uuid.uuid4()), "POST_SURVEY", changed, meta_ts=changed)
        self.dialogs.append(survey)
        return survey

    def survey_dialog(self) -> Dialog | None:
        return next((d for d in self.dialogs if d.dialog_type == "POST_SURVEY" and d.state == "OPEN"), None)

    def open_dialog(self) -> Dialog | None:
        return next((d for d in reversed(self.dialogs) if d.state == "OPEN"), None)

    def close(self, reason: str, cause: str | None = None) -> None:
        """Close every open dialog and the conversation's stage. A survey that ends keeps the close reason of
        the MAIN dialog's close; its dialog gets ``cause`` (post-conversation-survey-pcs.md: "Completed")."""
        ended = self.touch()
        if self.state == "OPEN":
            self.close_reason = reason
        self.state, self.stage, self.end_ts = "CLOSE", "CLOSE", ended
        for dialog in self.dialogs:
            if dialog.state == "OPEN":
                dialog.state, dialog.end_ts, dialog.closed_by, dialog.meta_ts = "CLOSE", ended, reason, ended
                dialog.closed_cause = cause

    def change_result(self, shape: str = "current") -> dict[str, Any]:
        """The full conversation state, as ExConversationChangeNotification's ``result``; the ``older`` shape
        has no ``dialogs``, ``stage``, ``skillId`` nor ``conversationHandlerDetails`` (webhooks-examples.md's older
        examples)."""
        participants = self.participants()
        details: dict[str, Any] = {
            "skillId": self.skill_id,
            "participants": participants,
            "dialogs": [
                {
                    "dialogId": d.dialog_id,
                    "participantsDetails": [{**p, "state": "ACTIVE"} for p in self.dialog_participants(d)],
                    "dialogType": d.dialog_type,
                    "channelType": "MESSAGING",
                    "state": d.state,
                    "creationTs": d.creation_ts,
                    "metaDataLastUpdateTs": d.meta_ts,
                    **({"endTs": d.end_ts, "closedBy": d.closed_by} if d.state == "CLOSE" else {}),
                    **({"closedCause": d.closed_cause} if d.state == "CLOSE" and d.closed_cause else {}),
                }
                for d in self.dialogs
            ],
            "brandId": self.account_id,
            "state": self.state,
            "stage": self.stage,
            "startTs": self.start_ts,
            "metaDataLastUpdateTs": self.meta_ts,
            "ttr": {"ttrType": "NORMAL", "value": 3600},
            "conversationHandlerDetails": {"accountId": self.account_id, "skillId": self.skill_id},
        }
        if self.state == "CLOSE":
            details.update(closeReason=self.close_reason, endTs=self.end_ts)
        if self.csat:
            details["csat"] = self.csat
        if shape == "older":
            for newer in ("dialogs", "stage", "skillId", "conversationHandlerDetails"):
                details.pop(newer)
        ttr = -1 if self.state == "CLOSE" else self.start_ts + 3600 * 1000
        return {"convId": self.conversation_id, "effectiveTTR": ttr, "conversationDetails": details}


class Store:
    """All conversations of the sandbox, and the log of Send API requests it received."""

    def __init__(self, shape: str = "current") -> None:
        self.shape = shape  # which of LiveEngage's notification shapes is sent (SHAPES)
        self.conversations: dict[str, Conversation] = {}
        self.open_by_consumer: dict[tuple[str, str], str] = {}
        self.send_api_log: list[dict[str, Any]] = []

    def open_conversation_of(self, account_id: str, consumer_id: str) -> Conversation | None:
        conversation_id = self.open_by_consumer.get((account_id, consumer_id))
        return self.conversations.get(conversation_id) if conversation_id else None

    def create(self, account_id: str, consumer_id: str, ext_consumer_id: str, skill_id: str,
               sdes: list[dict[str, Any]], campaign_info: dict[str, Any] | None) -> Conversation:
        conversation_id = str(uuid.uuid4())
        started = now_ms()
        conversation = Conversation(conversation_id, account_id, consumer_id, ext_consumer_id, skill_id, started,
                                    sdes=sdes, campaign_info=campaign_info, meta_ts=started)
        conversation.dialogs.append(Dialog(conversation_id, "MAIN", started, meta_ts=started))
        self.conversations[conversation_id] = conversation
        self.open_by_consumer[(account_id, consumer_id)] = conversation_id
        return conversation

    def close(self, conversation: Conversation, reason: str, cause: str | None = None) -> None:
        conversation.close(reason, cause)
        self.open_by_consumer.pop((conversation.account_id, conversation.consumer_id), None)

    def find_dialog(self, dialog_id: str) -> tuple[Conversation, Dialog] | None:
        for conversation in self.conversations.values():
            dialog = conversation.dialog(dialog_id)
            if dialog is not None:
                return conversation, dialog
        return None


def messaging_notification(*changes: dict[str, Any], shape: str = "current") -> dict[str, Any]:
    """One notification of one or more messaging changes (LiveEngage sends several at once: the survey bot's
    greeting and first question, post-conversation-survey-pcs.md)."""
    if shape == "older":
        changes = tuple({k: v for k, v in change.items() if k not in ("conversationId", "messageAudience")}
                        for change in changes)
    return {"kind": "notification", "type": MESSAGING, "body": {"changes": list(changes)}}


def conversation_notification(conversation: Conversation, subscription_id: str,
                              shape: str = "current") -> dict[str, Any]:
    change = {"type": "UPSERT", "result": conversation.change_result(shape)}
    return {"kind": "notification", "type": CONVERSATION_CHANGE,
            "body": {"subscriptionId": subscription_id, "changes": [change]}}
