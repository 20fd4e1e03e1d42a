"""The sandbox's agent console API (not part of LiveEngage): drive an agent, inspect what the sandbox received.

Agent actions produce the notifications LiveEngage would send for them: texts, structured content and quick
replies, private notes, receipts, typing, skill transfers, closes (with or without a post-conversation survey)
and the system's auto-close.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.liveengage.api import LiveEngageApi, lp_consumer_id
from emulators.liveengage.files import FileStore
from emulators.liveengage.store import SHAPES, Conversation, Store
from emulators.liveengage.webhooks import WebhookDispatcher

AGENT_ID = "7f3c2a10-5b1e-5d2a-9c44-0e8b1f6a2d31"

Action = Callable[[Conversation, dict[str, Any]], Awaitable[JSONResponse]]


class ConsoleError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.conversation_id,
        "ext_consumer_id": conversation.ext_consumer_id,
        "consumer_id": conversation.consumer_id,
        "state": conversation.state,
        "stage": conversation.stage,
        "close_reason": conversation.close_reason,
        "skill_id": conversation.skill_id,
        "agent_id": conversation.agent_id,
        "sdes": conversation.sdes,
        "campaign_info": conversation.campaign_info,
        "csat": conversation.csat,
        "dialogs": [{"dialog_id": d.dialog_id, "type": d.dialog_type, "state": d.state,
                     "closed_cause": d.closed_cause, "events": d.events}
                    for d in conversation.dialogs],
    }


class Console:
    def __init__(self, store: Store, webhooks: WebhookDispatcher, files: FileStore, api: LiveEngageApi) -> None:
        self.api = api
        subscription_id = api.subscription_id
        self.store = store
        self.webhooks = webhooks
        self.files = files
        self.subscription_id = subscription_id
        self._background: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        actions: dict[str, Action] = {
            "messages": self.agent_message, "receipts": self.agent_receipt, "typing": self.agent_typing,
            "transfer": self.transfer, "close": self.close, "survey/close": self.close_survey,
            "files": self.agent_file,
        }
        return [
            Route("/sandbox/conversations", self.list_conversations),
            Route("/sandbox/conversations/{conversation_id}", self.get_conversation),
            *[Route(f"/sandbox/conversations/{{conversation_id}}/agent/{name}", self._action(action),
                    methods=["POST"]) for name, action in actions.items()],
            Route("/sandbox/send-api/requests", self.send_api_requests),
            Route("/sandbox/webhooks/deliveries", self.deliveries),
            Route("/sandbox/webhooks/redeliver", self.redeliver, methods=["POST"]),
            Route("/sandbox/files", self.file),
            Route("/sandbox/auth", self.auth, methods=["GET"]),
            Route("/sandbox/consumers/conversations", self.open_for_consumer, methods=["POST"]),
            Route("/sandbox/auth/revoke", self.revoke, methods=["POST"]),
            Route("/sandbox/settings", self.settings, methods=["GET", "POST"]),
            Route("/sandbox/traffic/foreign", self.foreign_traffic, methods=["POST"]),
        ]

    def _action(self, action: Action) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            conversation = self.store.conversations.get(request.path_params["conversation_id"])
            try:
                if conversation is None:
                    raise ConsoleError(404, "no such conversation")
                try:
                    body = json.loads(await request.body() or b"{}")
                except json.JSONDecodeError:
                    body = None
                if not isinstance(body, dict):
                    raise ConsoleError(400, "body must be a JSON object")
                return await action(conversation, body)
            except ConsoleError as exc:
                return JSONResponse({"error": "rejected", "detail": exc.detail}, status_code=exc.status)

        return endpoint

    def _notify_change(self, conversation: Conversation) -> None:
        self.api.notify_change(conversation)

    def _join(self, conversation: Conversation) -> None:
        if conversation.state == "CLOSE":
            raise ConsoleError(409, "conversation is closed")
        if conversation.agent_id is None:
            conversation.agent_id = AGENT_ID
            conversation.touch()
            self._notify_change(conversation)

    def _publish(self, conversation: Conversation, event: dict[str, Any], audience: str = "ALL",
                 originator: str | None = None, role: str = "ASSIGNED_AGENT") -> dict[str, Any]:
        dialog = conversation.open_dialog()
        if dialog is None:
            raise ConsoleError(409, "no open dialog")
        change = conversation.publish(dialog, originator or str(conversation.agent_id), role, event, audience)
        self.api.notify_messaging(change)
        return change

    async def agent_message(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"text"?, "content"?, "quick_replies"?, "private"?}``: text, structured content, or both."""
        text, content, quick = body.get("text"), body.get("content"), body.get("quick_replies")
        if not (isinstance(text, str) and text) and not isinstance(content, dict):
            raise ConsoleError(400, "text or content is required")
        self._join(conversation)
        if isinstance(content, dict):
            event: dict[str, Any] = {"type": "RichContentEvent", "content": content}
        else:
            event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
        if isinstance(quick, dict):
            event["quickReplies"] = quick
        change = self._publish(conversation, event, "AGENTS_AND_MANAGERS" if body.get("private") else "ALL")
        return JSONResponse({"conversation_id": conversation.conversation_id, "dialog_id": change["dialogId"],
                             "sequence": change["sequence"]}, status_code=201)

    async def agent_file(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"data_base64", "content_type", "caption"?}``: the agent shares an image: a ``hosted/file`` ContentEvent
        (Connector API ``Webhooks/events.md``), downloaded with GenerateURLForDownloadFile (``SendAPI/examples.md``)."""
        file_type = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF"}.get(str(body.get("content_type")))
        try:
            data = base64.b64decode(str(body.get("data_base64")), validate=True)
        except ValueError:
            data = b""
        if file_type is None or not data:
            raise ConsoleError(400, "data_base64 and content_type image/png, image/jpeg or image/gif are required")
        self._join(conversation)
        message = {"caption": str(body.get("caption") or ""), "relativePath": self.files.store(data, file_type),
                   "fileType": file_type}
        change = self._publish(conversation, {"type": "ContentEvent", "contentType": "hosted/file", "message": message})
        return JSONResponse({"sequence": change["sequence"], "relative_path": message["relativePath"]},
                            status_code=201)

    async def agent_receipt(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"status": "ACCEPT"|"READ", "sequences": [...]}``: the agent got or read consumer messages."""
        sequences = body.get("sequences")
        if body.get("status") not in ("ACCEPT", "READ") or not isinstance(sequences, list) or not sequences:
            raise ConsoleError(400, "status ACCEPT or READ and a list of sequences are required")
        self._join(conversation)
        event = {"type": "AcceptStatusEvent", "status": body["status"], "sequenceList": sequences}
        change = self._publish(conversation, event)
        return JSONResponse({"sequence": change["sequence"]}, status_code=201)

    async def agent_typing(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"state": "COMPOSING"|"ACTIVE"|"PAUSE"}``."""
        if body.get("state") not in ("COMPOSING", "ACTIVE", "PAUSE"):
            raise ConsoleError(400, "state must be COMPOSING, ACTIVE or PAUSE")
        self._join(conversation)
        self._publish(conversation, {"type": "ChatStateEvent", "chatState": body["state"]})
        return JSONResponse({"state": body["state"]}, status_code=201)

    async def transfer(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"skill_id", "agent_id"?}``: the agent leaves; the skill changes; a new agent may take it."""
        if not isinstance(body.get("skill_id"), str) or conversation.state == "CLOSE":
            raise ConsoleError(400, "skill_id is required and the conversation must be open")
        conversation.skill_id, conversation.agent_id = body["skill_id"], None
        conversation.touch()
        self._notify_change(conversation)
        if isinstance(body.get("agent_id"), str):
            conversation.agent_id = body["agent_id"]
            conversation.touch()
            self._notify_change(conversation)
        return JSONResponse({"skill_id": conversation.skill_id, "agent_id": conversation.agent_id})

    async def close(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"by": "AGENT"|"SYSTEM", "survey"?: true, "notify"?: false}``: close, or close the MAIN dialog and
        start a survey. ``notify: false`` loses the close notification, as a webhook that exhausted its retries."""
        by = body.get("by", "AGENT")
        if by not in ("AGENT", "SYSTEM") or conversation.state == "CLOSE":
            raise ConsoleError(400, "by must be AGENT or SYSTEM and the conversation must be open")
        if body.get("survey"):
            if by != "AGENT" or conversation.open_dialog() is not conversation.main_dialog:
                raise ConsoleError(409, "only an agent's close of the MAIN dialog starts a survey")
            return JSONResponse({"survey_dialog_id": self.api.start_survey(conversation)})
        self.store.close(conversation, by)
        if body.get("notify", True):
            self._notify_change(conversation)
        return JSONResponse({"state": conversation.state, "close_reason": conversation.close_reason})

    async def close_survey(self, conversation: Conversation, body: dict[str, Any]) -> JSONResponse:
        """``{"cause"?: "Completed"|"Timeout"}``: the survey ends without more answers: the bot completes it, or
        the system closes it when it timed out. Its dialog, the last one open, closes the conversation's stage."""
        if conversation.survey_dialog() is None:
            raise ConsoleError(409, "no survey is open")
        cause = body.get("cause", "Completed")
        if cause not in ("Completed", "Timeout"):
            raise ConsoleError(400, "cause must be Completed or Timeout")
        self.api.end_survey(conversation, "SYSTEM" if cause == "Timeout" else "AGENT", cause)
        return JSONResponse({"state": conversation.state, "stage": conversation.stage})

    async def list_conversations(self, request: Request) -> JSONResponse:
        ext_id = request.query_params.get("ext_consumer_id")
        found = [summary(c) for c in self.store.conversations.values() if ext_id in (None, c.ext_consumer_id)]
        return JSONResponse({"conversations": found})

    async def get_conversation(self, request: Request) -> JSONResponse:
        conversation = self.store.conversations.get(request.path_params["conversation_id"])
        if conversation is None:
            return JSONResponse({"error": "not_found", "detail": "no such conversation"}, status_code=404)
        return JSONResponse(summary(conversation))

    async def send_api_requests(self, request: Request) -> JSONResponse:
        ext_id = request.query_params.get("ext_consumer_id")
        log = [entry for entry in self.store.send_api_log if ext_id in (None, entry["ext_consumer_id"])]
        return JSONResponse({"requests": log})

    async def deliveries(self, request: Request) -> JSONResponse:
        return JSONResponse({"deliveries": [{k: v for k, v in d.items() if k != "raw"}
                                            for d in self.webhooks.deliveries]})

    async def redeliver(self, request: Request) -> JSONResponse:
        """``{"index"}``: deliver an earlier webhook again, byte for byte (a LiveEngage retry or duplicate)."""
        try:
            index = json.loads(await request.body()).get("index")
        except (json.JSONDecodeError, AttributeError):
            index = None
        status = await self.webhooks.redeliver(index) if isinstance(index, int) else None
        if status is None:
            return JSONResponse({"error": "not_found", "detail": "no delivery with that index"}, status_code=404)
        return JSONResponse({"status": status})

    async def open_for_consumer(self, request: Request) -> JSONResponse:
        """``{"ext_consumer_id", "skill_id"?}``: an agent starts (or resumes into) a conversation with a consumer,
        as LiveEngage does for an agent's proactive or resumed conversation; the connector did not open it."""
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            body = None
        ext_id = body.get("ext_consumer_id") if isinstance(body, dict) else None
        if not isinstance(ext_id, str) or not ext_id:
            return JSONResponse({"error": "bad_request", "detail": "ext_consumer_id is required"}, status_code=400)
        account = self.api.config.account_id
        consumer_id = lp_consumer_id(account, ext_id)
        if self.store.open_conversation_of(account, consumer_id) is not None:
            return JSONResponse({"error": "conflict", "detail": "the consumer has an open conversation"},
                                status_code=409)
        conversation = self.store.create(account, consumer_id, ext_id, str(body.get("skill_id", "-1")), [], None)
        conversation.agent_id = AGENT_ID
        self._notify_change(conversation)
        return JSONResponse({"conversation_id": conversation.conversation_id}, status_code=201)

    async def auth(self, request: Request) -> JSONResponse:
        """How many AppJWTs, and ConsumerJWSs per ext_consumer_id, the sandbox issued."""
        return JSONResponse(self.api.issued)

    async def revoke(self, request: Request) -> JSONResponse:
        """Invalidate every AppJWT issued so far (the connector must renew on the 401 and retry), or with
        ``{"ext_consumer_id"}`` that consumer's ConsumerJWSs (the connector must fetch a new one)."""
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = None
        ext_id = body.get("ext_consumer_id") if isinstance(body, dict) else None
        if ext_id is not None and not (isinstance(ext_id, str) and ext_id):
            return JSONResponse({"error": "bad_request", "detail": "ext_consumer_id must be a string"},
                                status_code=400)
        if ext_id:
            self.api.revoke_consumer_jws(ext_id)
        else:
            self.api.revoke_app_jwts()
        return JSONResponse({"revoked": ext_id or "app_jwts"})

    async def foreign_traffic(self, request: Request) -> JSONResponse:
        """``{"conversations", "events", "per_second"}``: agents of other channels of the account talk to consumers
        this connector never saw. A webhook is account-wide (Connector API ``Webhooks/disclaimers.md``, the how-to
        guide: the endpoint sees conversations it did not open), so all of it reaches the connector. Paced, so the
        sandbox's own webhook queue does not become what a test measures; answers at once, the events follow."""
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = None
        numbers: list[Any] = [body.get(k) for k in ("conversations", "events", "per_second")] \
            if isinstance(body, dict) else []
        if len(numbers) != 3 or not all(isinstance(n, int | float) and not isinstance(n, bool) and n > 0
                                        for n in numbers):
            return JSONResponse({"error": "bad_request", "detail": "conversations, events and per_second must be "
                                 "positive numbers"}, status_code=400)
        conversations, events, per_second = int(numbers[0]), int(numbers[1]), float(numbers[2])
        account = self.api.config.account_id
        talks = []
        for _ in range(conversations):
            ext_id = f"other-app:{secrets.token_hex(6)}"
            conversation = self.store.create(account, lp_consumer_id(account, ext_id), ext_id, "-1", [], None)
            conversation.agent_id = AGENT_ID
            self._notify_change(conversation)
            talks.append(conversation)

        async def talk() -> None:
            for index in range(events):
                conversation = talks[index % len(talks)]
                self._publish(conversation, {"type": "ContentEvent", "contentType": "text/plain",
                                             "message": f"foreign message {index}"})
                await asyncio.sleep(1 / per_second)

        task = asyncio.create_task(talk())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return JSONResponse({"conversations": [c.conversation_id for c in talks]}, status_code=202)

    async def settings(self, request: Request) -> JSONResponse:
        """``{"notification_shape": "current"|"older"}``: which of LiveEngage's documented notification shapes
        the sandbox sends from now on (see ``emulators.liveengage.store``); GET shows it."""
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
            except json.JSONDecodeError:
                body = None
            shape = body.get("notification_shape") if isinstance(body, dict) else None
            if shape not in SHAPES:
                return JSONResponse({"error": "bad_request", "detail": f"notification_shape must be one of "
                                     f"{', '.join(SHAPES)}"}, status_code=400)
            self.store.shape = shape
        return JSONResponse({"notification_shape": self.store.shape})

    async def file(self, request: Request) -> Response:
        """``?relative_path=``: a file in the sandbox's storage, as uploaded."""
        data = self.files.files.get(request.query_params.get("relative_path", ""))
        if data is None:
            return JSONResponse({"error": "not_found", "detail": "no such file"}, status_code=404)
        return Response(data, media_type="application/octet-stream")
