"""Pure builders of Send API (UMS) request bodies from the connector's records and configuration."""

from __future__ import annotations

import json
import uuid
from typing import Any

from adapters.textsplit import split_between_words
from streams.settings import ChannelRoute


# LiveEngage refuses a SEND request over 5,000 characters (Connector API how-to guide, lp-devassist-connectors).
# Counted here as UTF-16 code units of the body as sent (LiveEngage runs on the JVM), which is never fewer.
SEND_LIMIT_CHARS = 5000
# Ids as long as LiveEngage's (UUIDs, 22-character dialog ids) fit these, so a request measured with them is never
# shorter than the real one.
LONGEST_ID = "x" * 64


def body_bytes(payload: Any) -> bytes:
    """A request body as LiveEngage counts it: compact JSON in UTF-8, non-ASCII characters as they are (an
    escaped ``\\uXXXX`` costs six characters of the limit for one)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _chars(text: str) -> int:
    """What ``text`` costs inside a JSON string, in UTF-16 code units."""
    return len(json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-16-le")) // 2


def text_parts(text: str, metadata: list[Any] | None = None) -> list[str]:
    """``text`` as it fits in SEND requests (each carrying ``metadata``): itself when it fits, else parts in order,
    split after whitespace (inside a word only when one word is longer than a part)."""
    envelope = publish(LONGEST_ID, LONGEST_ID, text_event(""), metadata) | {"id": LONGEST_ID}
    room = SEND_LIMIT_CHARS - len(body_bytes(envelope).decode().encode("utf-16-le")) // 2
    if _chars(text) <= room:
        return [text]
    return split_between_words(text, lambda part: _chars(part) <= room)


def request(type_: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "req", "id": str(uuid.uuid4()), "type": type_, "body": body}


def sdes(profile: dict[str, Any] | None, route: ChannelRoute, consumer_key: str) -> list[dict[str, Any]]:
    """The ``ctmrinfo`` and ``personal`` SDEs of a consumer; channel values win over the channel's defaults."""
    profile = profile or {}
    defaults = route.default_profile
    customer_info = {
        "customerId": profile.get("customer_id"),
        "ctype": profile.get("customer_type") or defaults.customer_type,
        "socialId": consumer_key,
    }
    contact = {"email": profile.get("email"), "phone": profile.get("phone")}
    personal = {
        "firstname": profile.get("first_name"),
        "lastname": profile.get("last_name"),
        "language": profile.get("language") or defaults.language,
        "contacts": [_present(contact)] if any(contact.values()) else None,
    }
    return [
        {"type": "ctmrinfo", "info": _present(customer_info)},
        {"type": "personal", "personal": _present(personal)},
    ]


def open_conversation(account_id: str, sde_list: list[dict[str, Any]], route: ChannelRoute) -> list[dict[str, Any]]:
    """The CONVERSATION batch: SetUserProfile first (LiveEngage checks the order), then ConsumerRequestConversation."""
    conversation: dict[str, Any] = {"brandId": account_id, "channelType": "MESSAGING", "ttrDefName": "NORMAL"}
    if route.skill_id:
        conversation["skillId"] = route.skill_id
    if route.campaign_id and route.engagement_id:
        conversation["campaignInfo"] = {"campaignId": route.campaign_id, "engagementId": route.engagement_id}
    return [
        request("userprofile.SetUserProfile", {"authenticatedData": {"lp_sdes": sde_list}}),
        request("cm.ConsumerRequestConversation", conversation),
    ]


def publish(conversation_id: str, dialog_id: str, event: dict[str, Any],
            metadata: list[Any] | None = None) -> dict[str, Any]:
    """``ms.PublishEvent`` into a dialog (the MAIN dialog's id is the conversation id; a survey has its own), with
    the request's top-level ``metadata`` when given (the button a reply answers)."""
    published = request("ms.PublishEvent", {"dialogId": dialog_id, "conversationId": conversation_id, "event": event})
    return published | {"metadata": metadata} if metadata else published


def text_event(text: str) -> dict[str, Any]:
    return {"type": "ContentEvent", "contentType": "text/plain", "message": text}


def file_event(relative_path: str, file_type: str, caption: str | None) -> dict[str, Any]:
    message = {"caption": caption or "", "relativePath": relative_path, "fileType": file_type}
    return {"type": "ContentEvent", "contentType": "hosted/file", "message": message}


def accept_status_event(status: str, sequences: list[int]) -> dict[str, Any]:
    return {"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences}


def chat_state_event(chat_state: str) -> dict[str, Any]:
    return {"type": "ChatStateEvent", "chatState": chat_state}


def upload_url(file_size: int, file_type: str) -> dict[str, Any]:
    return request("ms.GenerateURLForUploadFile", {"fileSize": str(file_size), "fileType": file_type})


def download_url(relative_path: str) -> dict[str, Any]:
    return request("ms.GenerateURLForDownloadFile", {"relativePath": relative_path})


def close_conversation(conversation_id: str) -> dict[str, Any]:
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    return request("cm.UpdateConversationField", {"conversationId": conversation_id, "conversationField": field})


def close_stage(conversation_id: str) -> dict[str, Any]:
    """Close the conversation with every dialog, a running survey's too (Messaging Window API tutorial
    post-conversation-survey-pcs.md, "Additional Notes": the field is spelt ``Stage``)."""
    field = {"field": "Stage", "conversationState": "CLOSE"}
    return request("cm.UpdateConversationField", {"conversationId": conversation_id, "conversationField": field})


def survey_answer(conversation_id: str, csat_rate: int, fcr: bool | None) -> dict[str, Any]:
    """CSAT (1-5) and FCR. An unanswered FCR question is left out (sending false would say "not resolved"),
    with status PARTIALLY_FILLED."""
    field: dict[str, Any] = {"field": "CSATRate", "csatRate": csat_rate,
                             "status": "FILLED" if fcr is not None else "PARTIALLY_FILLED"}
    if fcr is not None:
        field["csatResolutionConfirmation"] = fcr
    return request("cm.UpdateConversationField", {"conversationId": conversation_id, "conversationField": field})


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
