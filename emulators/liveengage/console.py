"""The sandbox's agent console API (not part of LiveEngage): drive an agent, inspect what the sandbox received."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.liveengage.store import Conversation, Store, conversation_notification, messaging_notification
from emulators.liveengage.webhooks import WebhookDispatcher

AGENT_ID = "7f3c2a10-5b1e-5d2a-9c44-0e8b1f6a2d31"


def summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.conversation_id,
        "ext_consumer_id": conversation.ext_consumer_id,
        "consumer_id": conversation.consumer_id,
        "state": conversation.state,
        "close_reason": conversation.close_reason,
        "skill_id": conversation.skill_id,
        "agent_id": conversation.agent_id,
        "sdes": conversation.sdes,
        "campaign_info": conversation.campaign_info,
        "dialogs": [{"dialog_id": d.dialog_id, "type": d.dialog_type, "state": d.state, "events": d.events}
                    for d in conversation.dialogs],
    }


class Console:
    def __init__(self, store: Store, webhooks: WebhookDispatcher, subscription_id: str) -> None:
        self.store = store
        self.webhooks = webhooks
        self.subscription_id = subscription_id

    def routes(self) -> list[Route]:
        return [
            Route("/sandbox/conversations", self.list_conversations),
            Route("/sandbox/conversations/{conversation_id}", self.get_conversation),
            Route("/sandbox/conversations/{conversation_id}/agent/messages", self.agent_message, methods=["POST"]),
            Route("/sandbox/send-api/requests", self.send_api_requests),
            Route("/sandbox/webhooks/deliveries", self.deliveries),
        ]

    async def list_conversations(self, request: Request) -> JSONResponse:
        ext_id = request.query_params.get("ext_consumer_id")
        found = [summary(c) for c in self.store.conversations.values() if ext_id in (None, c.ext_consumer_id)]
        return JSONResponse({"conversations": found})

    def _conversation(self, request: Request) -> Conversation | None:
        return self.store.conversations.get(request.path_params["conversation_id"])

    async def get_conversation(self, request: Request) -> JSONResponse:
        conversation = self._conversation(request)
        if conversation is None:
            return JSONResponse({"error": "not_found", "detail": "no such conversation"}, status_code=404)
        return JSONResponse(summary(conversation))

    async def agent_message(self, request: Request) -> JSONResponse:
        """``{"text": ...}``: the assigned agent (joined on first use) writes to the consumer."""
        conversation = self._conversation(request)
        if conversation is None:
            return JSONResponse({"error": "not_found", "detail": "no such conversation"}, status_code=404)
        if conversation.state == "CLOSE":
            return JSONResponse({"error": "conflict", "detail": "conversation is closed"}, status_code=409)
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            return JSONResponse({"error": "bad_request", "detail": "text is required"}, status_code=400)
        if conversation.agent_id is None:
            conversation.agent_id = AGENT_ID
            conversation.touch()
            self.webhooks.emit(conversation_notification(conversation, self.subscription_id))
        event = {"type": "ContentEvent", "contentType": "text/plain", "message": body["text"]}
        change = conversation.publish(conversation.main_dialog, conversation.agent_id, "ASSIGNED_AGENT", event)
        self.webhooks.emit(messaging_notification(change))
        return JSONResponse({"conversation_id": conversation.conversation_id, "sequence": change["sequence"],
                             "event_id": str(uuid.uuid4())}, status_code=201)

    async def send_api_requests(self, request: Request) -> JSONResponse:
        ext_id = request.query_params.get("ext_consumer_id")
        log = [entry for entry in self.store.send_api_log if ext_id in (None, entry["ext_consumer_id"])]
        return JSONResponse({"requests": log})

    async def deliveries(self, request: Request) -> JSONResponse:
        return JSONResponse({"deliveries": self.webhooks.deliveries})
