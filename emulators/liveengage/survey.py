"""The post-conversation survey bot, as the Messaging Window API tutorial ``post-conversation-survey-pcs.md``
(developer-center) shows it at work.

When an agent closes the MAIN dialog of a conversation whose skill has a survey, the bot (role ``AGENT``) greets
the consumer and asks its first question in one notification of two changes that carry only the survey's
``dialogId``; a question is a ``ContentEvent`` with ``quickReplies`` whose buttons publish "1" to "5" (or the
answer's title) and carry ``Answer`` metadata, and the change's ``metadata`` names the ``Question``. Each answer
(or a typed "skip", which the greeting offers) is read by the bot (``AcceptStatusEvent`` READ); after the last
question it thanks the consumer and the survey dialog closes with ``closedCause`` "Completed", which closes the
conversation's stage. A skipped survey closes the same way with "Skipped", one that times out is closed by the
system with "Timeout" (both causes are this sandbox's names: the tutorial shows only "Completed").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

SURVEY_BOT_ID = "2fa9ac85-d8a9-5bd6-8384-8c32dabae97f"
SURVEY_ID = "499706313"
GREETING = ("Hello, I'm the survey bot and I would like to collect your feedback following your past interaction. "
            "If you'd like to skip the whole survey type 'skip' at any point")
THANKS = "Thank you for your time."


@dataclass(frozen=True)
class Question:
    question_id: str
    text: str
    answers: tuple[str, ...]


QUESTIONS = (
    Question("3e70da9b-76de-4c2a-911e-a41aee698b82", "How would you rate your overall experience?",
             ("1", "2", "3", "4", "5")),
    Question("8c1d0f43-2a5e-4d0b-9f6e-1b7c3a9e5d21", "Was your issue resolved?", ("Yes", "No")),
)
GROUP_ID = "d55ffc18-da33-4c40-a20a-2958ec3f4c88"


def answer_id(question: Question, answer: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{question.question_id}/{answer}"))


def _button(question: Question, title: str, *, skip: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": "Answer", "questionId": question.question_id,
                                "id": answer_id(question, title), "provider": "AC"}
    if skip:
        metadata["groupId"] = GROUP_ID
    return {"type": "button", "tooltip": title, "title": title,
            "click": {"metadata": [metadata], "actions": [{"type": "publishText", "text": title}]}}


def question_event(question: Question) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A question's event and the change's ``metadata`` (post-conversation-survey-pcs.md, step 10)."""
    replies = [_button(question, a) for a in question.answers] + [_button(question, "Skip", skip=True)]
    event = {"type": "ContentEvent", "message": question.text, "contentType": "text/plain",
             "quickReplies": {"type": "quickReplies", "itemsPerRow": 8, "replies": replies}}
    metadata = [{"type": "Question", "id": question.question_id, "groupId": GROUP_ID, "surveyId": SURVEY_ID,
                 "provider": "AC", "replies": [r["click"]["metadata"][0]["id"] for r in replies]}]
    return event, metadata


def text_event(text: str) -> dict[str, Any]:
    return {"type": "ContentEvent", "message": text, "contentType": "text/plain"}


def next_step(answered: int, text: str) -> str:
    """What the bot does after the consumer's text, having had ``answered`` answers before: "ask" the next
    question, "complete" the survey, or "skip" it."""
    if text.strip().casefold() == "skip":
        return "skip"
    return "ask" if answered + 1 < len(QUESTIONS) else "complete"
