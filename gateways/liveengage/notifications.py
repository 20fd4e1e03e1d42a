"""Splits a LiveEngage webhook notification into one LiveEngageEvent record per change, validating as it goes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from gateways.errors import BadRequestError

MESSAGING = "ms.MessagingEventNotification"
CONVERSATION_CHANGE = "cqm.ExConversationChangeNotification"
KNOWN_TYPES = (MESSAGING, CONVERSATION_CHANGE)


def to_records(account_id: str, notification: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(conversation id, LiveEngageEvent)`` pairs for every change, in order.

    Raises:
        BadRequestError: unknown notification type, no ``body.changes`` array, or a change without the ids
            that key it. Nothing is published for a notification with any bad change.
    """
    kind = notification.get("type")
    if kind not in KNOWN_TYPES:
        raise BadRequestError(f"unknown notification type {str(kind)[:80]!r}; expected one of {', '.join(KNOWN_TYPES)}")
    body = notification.get("body")
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(changes, list):
        raise BadRequestError("body.changes must be an array")
    received_at = datetime.now(timezone.utc)
    records = []
    for index, change in enumerate(changes):
        if not isinstance(change, dict):
            raise BadRequestError(f"body.changes[{index}] must be an object")
        record = _messaging(change, index) if kind == MESSAGING else _conversation_change(change, index)
        record.update(account_id=account_id, notification_type=kind, received_at=received_at,
                      change_json=json.dumps(change, separators=(",", ":"), ensure_ascii=False))
        records.append((record["conversation_id"], record))
    return records


def _messaging(change: dict[str, Any], index: int) -> dict[str, Any]:
    dialog_id = _string(change.get("dialogId"))
    conversation_id = _string(change.get("conversationId")) or dialog_id
    event = change.get("event")
    if dialog_id is None or conversation_id is None:
        raise BadRequestError(f"body.changes[{index}].dialogId is missing")
    if not isinstance(event, dict) or not _string(event.get("type")):
        raise BadRequestError(f"body.changes[{index}].event.type is missing")
    sequence = change.get("sequence")
    if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool)):
        raise BadRequestError(f"body.changes[{index}].sequence must be an integer")
    originator = change.get("originatorMetadata")
    role = _string(originator.get("role")) if isinstance(originator, dict) else None
    timestamp = change.get("serverTimestamp")
    return {
        "event_id": f"{dialog_id}:{sequence}" if sequence is not None else _digest(change),
        "conversation_id": conversation_id,
        "dialog_id": dialog_id,
        "sequence": sequence,
        "event_type": event["type"],
        "originator_id": _string(change.get("originatorId")),
        "originator_role": role,
        "server_timestamp": timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None,
    }


def _conversation_change(change: dict[str, Any], index: int) -> dict[str, Any]:
    result = change.get("result")
    conversation_id = _string(result.get("convId")) if isinstance(result, dict) else None
    if conversation_id is None:
        raise BadRequestError(f"body.changes[{index}].result.convId is missing")
    details = result.get("conversationDetails") if isinstance(result, dict) else None
    updated = details.get("metaDataLastUpdateTs") if isinstance(details, dict) else None
    return {
        "event_id": f"{conversation_id}@{updated}" if isinstance(updated, int) else _digest(change),
        "conversation_id": conversation_id,
        "dialog_id": None,
        "sequence": None,
        "event_type": None,
        "originator_id": None,
        "originator_role": None,
        "server_timestamp": updated if isinstance(updated, int) and not isinstance(updated, bool) else None,
    }


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _digest(change: dict[str, Any]) -> str:
    canonical = json.dumps(change, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]
