"""Pure builders of Send API (UMS) request bodies from the connector's records and configuration."""

from __future__ import annotations

import uuid
from typing import Any

from streams.settings import ChannelRoute


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


def publish(conversation_id: str, dialog_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """``ms.PublishEvent`` into a dialog (the MAIN dialog's id is the conversation id; a survey has its own)."""
    return request("ms.PublishEvent", {"dialogId": dialog_id, "conversationId": conversation_id, "event": event})


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


def close_conversation(conversation_id: str) -> dict[str, Any]:
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    return request("cm.UpdateConversationField", {"conversationId": conversation_id, "conversationField": field})


def survey_answer(conversation_id: str, csat_rate: int, fcr: bool | None) -> dict[str, Any]:
    """CSAT (1-5) and FCR. LiveEngage requires all four fields: an unanswered FCR is sent as false with status
    PARTIALLY_FILLED."""
    field = {"field": "CSATRate", "csatRate": csat_rate, "csatResolutionConfirmation": bool(fcr),
             "status": "FILLED" if fcr is not None else "PARTIALLY_FILLED"}
    return request("cm.UpdateConversationField", {"conversationId": conversation_id, "conversationField": field})


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
