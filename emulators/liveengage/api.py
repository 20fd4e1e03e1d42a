"""LiveEngage's public HTTP surface as the Connector API documents it: Domain API, Sentinel, IdP and the Send API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.liveengage import jwt
from emulators.liveengage.faults import CutAnswer, Faults
from emulators.liveengage.files import FileStore
from emulators.liveengage import survey
from emulators.liveengage.store import Conversation, Store, conversation_notification, messaging_notification
from emulators.liveengage.webhooks import WebhookDispatcher

# "The whole JSON request cannot exceed 5000 characters" (Connector API how-to guide, lp-devassist-connectors),
# counted as the JVM counts a string: UTF-16 code units of the body as received (an escaped \uXXXX is six).
SEND_LIMIT_CHARS = 5000
SERVICES = ("asyncMessagingEnt", "sentinel", "idp", "swift", "accountConfigReadWrite", "msgHist")
CHAT_STATES = ("ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE")
ACCEPT_STATUSES = ("ACCEPT", "READ", "ACCESS", "NACK", "ACTION")


@dataclass
class EmulatorConfig:
    account_id: str
    client_id: str
    client_secret: str
    host: str = "127.0.0.1"  # as the Domain API gives it out
    port: int = 8090
    app_jwt_ttl_s: int = 3600
    # The docs leave open whether in-body BAD_REQUEST answers come with HTTP 400 or 200.
    bad_request_status: int = 400
    # Separate keys: revoking AppJWTs (a new app_jwt_key) must leave ConsumerJWSs valid; they never expire.
    app_jwt_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    jws_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Other accounts' sandboxes (account id → host:port): the Domain API, global in LiveEngage, points at them.
    peers: dict[str, str] = field(default_factory=dict)
    # A conversation requested with skill -1 (or none, or through a campaign) is routed by LiveEngage to a skill of
    # its own and reported with it (Connector API SendAPI/conversation.md: skillId is optional, -1 is "any").
    routed_skill_id: str = "1732549212"

    @property
    def base_uri(self) -> str:
        return f"{self.host}:{self.port}"


class AuthError(Exception):
    """An authorization failure with the Send API's documented errorCode."""

    TITLES = {
        40001: ("Missing parameter", "Brand Id is missing"),
        40102: ("Invalid AppJWT", "AppJWT has expired or is invalid"),
        40103: ("Invalid ConsumerJWS", "ConsumerJWS is invalid"),
        40104: ("ConsumerJWS is missing", "X_ON_BEHALF_HEADER is not present"),
        40105: ("AppJWT is missing", "AUTHORIZATION header is not present"),
    }

    def __init__(self, error_code: int) -> None:
        super().__init__(error_code)
        self.error_code = error_code

    def response(self) -> JSONResponse:
        title, details = self.TITLES[self.error_code]
        body = {"kind": "resp", "code": 401, "type": ".ReqBody$ErrorResp",
                "body": {"title": title, "details": details, "errorCode": self.error_code}}
        return JSONResponse(body, status_code=401)


def lp_consumer_id(account_id: str, ext_consumer_id: str) -> str:
    return hashlib.sha256(f"{account_id}:{ext_consumer_id}".encode()).hexdigest()


class LiveEngageApi:
    def __init__(self, config: EmulatorConfig, store: Store, webhooks: WebhookDispatcher, files: FileStore,
                 faults: Faults) -> None:
        self.faults = faults
        self.config = config
        self.store = store
        self.webhooks = webhooks
        self.files = files
        self.subscription_id = secrets.token_hex(16)
        self.issued: dict[str, Any] = {"app_jwts": 0, "consumer_jws": {}}  # for the console: what was issued
        self._jws_generation: dict[str, int] = {}  # per ext_consumer_id: a revoked ConsumerJWS is of an older one

    def revoke_app_jwts(self) -> None:
        """Every AppJWT issued so far becomes invalid (40102), as after an expiry; ConsumerJWSs stay valid."""
        self.config.app_jwt_key = secrets.token_bytes(32)

    def revoke_consumer_jws(self, ext_consumer_id: str) -> None:
        """The consumer's ConsumerJWSs issued so far become invalid (40103); AppJWTs stay valid."""
        self._jws_generation[ext_consumer_id] = self._jws_generation.get(ext_consumer_id, 0) + 1

    def notify_change(self, conversation: Conversation) -> None:
        self.webhooks.emit(conversation_notification(conversation, self.subscription_id, self.store.shape))

    def notify_messaging(self, *changes: dict[str, Any]) -> None:
        self.webhooks.emit(messaging_notification(*changes, shape=self.store.shape))

    def routes(self) -> list[Route]:
        return [
            Route("/api/account/{account}/service/baseURI.json", self.all_domains),
            Route("/api/account/{account}/service/{service}/baseURI.json", self.one_domain),
            Route("/sentinel/api/account/{account}/app/token", self.app_token, methods=["POST"]),
            Route("/api/account/{account}/consumer", self.consumer_token, methods=["POST"]),
            Route("/api/account/{account}/messaging/consumer/conversation", self.conversation, methods=["POST"]),
            Route("/api/account/{account}/messaging/consumer/conversation/send", self.send, methods=["POST"]),
        ]

    # Domain API
    def _known_account(self, request: Request) -> bool:
        return bool(request.path_params["account"] == self.config.account_id)

    def _base_uri_of(self, account: str) -> str | None:
        return self.config.base_uri if account == self.config.account_id else self.config.peers.get(account)

    async def all_domains(self, request: Request) -> JSONResponse:
        account = request.path_params["account"]
        base_uri = self._base_uri_of(account)
        if base_uri is None or request.query_params.get("version") != "1.0":
            return JSONResponse({"error": "unknown account or missing version=1.0"}, status_code=400)
        return JSONResponse({"baseURIs": [{"service": s, "account": account, "baseURI": base_uri}
                                          for s in SERVICES]})

    async def one_domain(self, request: Request) -> JSONResponse:
        account, service = request.path_params["account"], request.path_params["service"]
        base_uri = self._base_uri_of(account)
        if base_uri is None or service not in SERVICES:
            return JSONResponse({"error": "unknown account or service"}, status_code=400)
        return JSONResponse({"service": service, "account": account, "baseURI": base_uri})

    # Sentinel: OAuth2 client credentials, parameters in the query string or the form body
    async def app_token(self, request: Request) -> JSONResponse:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        params = {**{name: values[0] for name, values in form.items()}, **dict(request.query_params)}
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not (self._known_account(request) and params.get("client_id") == self.config.client_id
                and secrets.compare_digest(str(params.get("client_secret", "")), self.config.client_secret)):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = int(time.time())
        claims = {"aud": self.config.account_id, "azp": self.config.client_id, "scope": "msg.consumer",
                  "iss": "Sentinel", "iat": issued, "exp": issued + self.config.app_jwt_ttl_s}
        token = jwt.sign(claims, self.config.app_jwt_key, kid="appjwt-sandbox")
        self.issued["app_jwts"] += 1
        return JSONResponse({"access_token": token, "token_type": "Bearer"})

    def _check_app_jwt(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise AuthError(40105)
        claims = jwt.verify(header.removeprefix("Bearer ").strip(), self.config.app_jwt_key)
        if claims is None or claims.get("aud") != request.path_params["account"]:
            raise AuthError(40102)
        if claims.get("iss") != "Sentinel":
            raise AuthError(40001)
        if int(claims.get("exp", 0)) <= time.time():
            raise AuthError(40102)

    def _consumer(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("x-lp-on-behalf")
        if not header:
            raise AuthError(40104)
        claims = jwt.verify(header, self.config.jws_key)
        if claims is None or claims.get("account_id") != request.path_params["account"] \
                or claims.get("gen", 0) != self._jws_generation.get(str(claims.get("ext_consumer_id")), 0):
            raise AuthError(40103)
        return claims

    # IdP: ConsumerJWS, keyed by the connector's own ext_consumer_id; never expires
    async def consumer_token(self, request: Request) -> Response:
        try:
            self._check_app_jwt(request)
        except AuthError as exc:
            return exc.response()
        body = await _json(request)
        ext_id = body.get("ext_consumer_id") if isinstance(body, dict) else None
        if not isinstance(ext_id, str) or not ext_id:
            return JSONResponse({"error": "ext_consumer_id is required"}, status_code=400)
        account = self.config.account_id
        claims = {"account_id": account, "ext_consumer_id": ext_id, "lp_consumer_id": lp_consumer_id(account, ext_id),
                  "gen": self._jws_generation.get(ext_id, 0)}
        self.issued["consumer_jws"][ext_id] = self.issued["consumer_jws"].get(ext_id, 0) + 1
        return JSONResponse({"token": jwt.sign(claims, self.config.jws_key, kid="jws-sandbox")}, status_code=201)

    def _bad_request(self, request_id: Any, message: str) -> dict[str, Any]:
        return {"code": "BAD_REQUEST", "body": {"msg": message}, "reqId": request_id}

    # Send API: CONVERSATION (batch)
    async def _with_faults(self, endpoint: str, consumer: dict[str, Any],
                           handle: Callable[[], Awaitable[Response]]) -> Response:
        """Handle the call, unless an injected fault answers instead, delays it or cuts its answer."""
        fault = self.faults.take(endpoint, consumer.get("ext_consumer_id"))
        if fault is None:
            return await handle()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if (answer := fault.answer()) is not None:
            return answer
        response = await handle()
        return CutAnswer(response) if fault.reset else response

    async def conversation(self, request: Request) -> Response:
        try:
            self._check_app_jwt(request)
            consumer = self._consumer(request)
        except AuthError as exc:
            return exc.response()
        return await self._with_faults("conversation", consumer, lambda: self._conversation(request, consumer))

    async def _conversation(self, request: Request, consumer: dict[str, Any]) -> Response:
        batch = await _json(request)
        self._log(request, consumer, batch)
        problem = _batch_problem(batch, self.config.account_id)
        if problem:
            return JSONResponse(self._bad_request(None, problem), status_code=self.config.bad_request_status)
        profile, opening = batch[0], batch[1]
        profile_answer = {"code": "OK", "body": {"msg": "OK User Profile set successfully"}, "reqId": profile["id"]}
        if self.store.open_conversation_of(self.config.account_id, consumer["lp_consumer_id"]):
            message = (f"Consumer request conversation failed: User {consumer['lp_consumer_id']} already has open "
                       "conversation. Can't open another one.")
            return JSONResponse([profile_answer, self._bad_request(opening["id"], message)],
                                status_code=self.config.bad_request_status)
        body = opening["body"]
        sdes = profile["body"].get("authenticatedData", {}).get("lp_sdes", [])
        requested = str(body.get("skillId", "-1"))
        skill = self.config.routed_skill_id if requested == "-1" else requested
        conversation = self.store.create(self.config.account_id, consumer["lp_consumer_id"],
                                         consumer["ext_consumer_id"], skill, sdes, body.get("campaignInfo"))
        self.notify_change(conversation)
        opened = {"code": "OK", "body": {"conversationId": conversation.conversation_id}, "reqId": opening["id"]}
        return JSONResponse([profile_answer, opened])

    # Send API: SEND (one request)
    async def send(self, request: Request) -> Response:
        try:
            self._check_app_jwt(request)
            consumer = self._consumer(request)
        except AuthError as exc:
            return exc.response()
        raw = await request.body()
        message = await _json(request)
        self._log(request, consumer, message)
        return await self._with_faults("send", consumer, lambda: self._send(raw, message, consumer))

    async def _send(self, raw: bytes, message: Any, consumer: dict[str, Any]) -> Response:
        if len(raw.decode("utf-8", "replace").encode("utf-16-le")) // 2 > SEND_LIMIT_CHARS:
            return self._reject(message, "Bad Request")
        if not _is_request(message):
            return self._reject(message, "Bad Request, malformed request")
        if message["type"] == "ms.PublishEvent":
            return self._publish(message, consumer)
        if message["type"] == "cm.UpdateConversationField":
            return self._update_conversation(message, consumer)
        if message["type"] in ("ms.GenerateURLForUploadFile", "ms.GenerateURLForDownloadFile"):
            if self.store.open_conversation_of(self.config.account_id, consumer["lp_consumer_id"]) is None:
                return self._reject(message, "Bad Request, file sharing needs an open conversation")
            make = self.files.upload_url if message["type"].endswith("UploadFile") else self.files.download_url
            answer = make(message["body"])
            if isinstance(answer, str):
                return self._reject(message, f"Bad Request, {answer}")
            return JSONResponse({"reqId": message["id"], "code": "OK", "body": answer})
        return self._reject(message, f"Bad Request, unsupported type {str(message['type'])[:64]}")

    def _reject(self, message: Any, text: str) -> JSONResponse:
        request_id = message.get("id") if isinstance(message, dict) else None
        return JSONResponse(self._bad_request(request_id, text), status_code=self.config.bad_request_status)

    def _publish(self, message: dict[str, Any], consumer: dict[str, Any]) -> Response:
        body = message["body"]
        found = self.store.find_dialog(str(body.get("dialogId")))
        if found is None:
            return self._reject(message, "Bad Request, unknown dialogId")
        conversation, dialog = found
        if conversation.consumer_id != consumer["lp_consumer_id"]:
            return AuthError(40103).response()
        # While a survey runs the conversation's state is CLOSE but its survey dialog takes the consumer's answers
        # (post-conversation-survey-pcs.md, step 12); a closed dialog or stage takes nothing.
        if conversation.stage == "CLOSE" or dialog.state == "CLOSE":
            return self._reject(message, "Bad Request, Conversation is close")
        event = body.get("event")
        problem = _event_problem(event)
        if problem is None and event.get("contentType") == "hosted/file" \
                and event["message"].get("relativePath") not in self.files.files:
            problem = "hosted/file relativePath was not uploaded"
        if problem:
            return self._reject(message, f"Bad Request, {problem}")
        change = conversation.publish(dialog, conversation.consumer_id, "CONSUMER", event,
                                      metadata=message.get("metadata"))
        self.notify_messaging(change)  # LiveEngage echoes the consumer's own events
        if dialog.dialog_type == "POST_SURVEY" and event.get("type") == "ContentEvent":
            self._survey_bot_answers(conversation, dialog, change)
        return JSONResponse({"reqId": message["id"], "code": "OK", "body": {"sequence": change.get("sequence", 0)}})

    def start_survey(self, conversation: Conversation) -> str:
        """The agent closed the MAIN dialog: the survey dialog opens and the bot greets and asks, in one
        notification whose changes carry only the survey's dialogId (post-conversation-survey-pcs.md)."""
        dialog = conversation.open_survey(survey.SURVEY_BOT_ID)
        self.notify_change(conversation)
        question, metadata = survey.question_event(survey.QUESTIONS[0])
        greeting = conversation.publish(dialog, survey.SURVEY_BOT_ID, "AGENT", survey.text_event(survey.GREETING),
                                        dialog_only=True)
        greeting["metadata"] = None
        asked = conversation.publish(dialog, survey.SURVEY_BOT_ID, "AGENT", question, metadata=metadata,
                                     dialog_only=True)
        self.notify_messaging(greeting, asked)
        return dialog.dialog_id

    def end_survey(self, conversation: Conversation, by: str, cause: str) -> None:
        """The survey dialog closes, and with it the conversation's stage."""
        self.store.close(conversation, by, cause)
        self.notify_change(conversation)

    def _survey_bot_answers(self, conversation: Conversation, dialog: Any, answer: dict[str, Any]) -> None:
        answered = sum(1 for e in dialog.events if e["originatorMetadata"]["role"] == "CONSUMER"
                       and e["event"].get("type") == "ContentEvent") - 1
        read = conversation.publish(dialog, survey.SURVEY_BOT_ID, "AGENT", {
            "type": "AcceptStatusEvent", "status": "READ", "sequenceList": [answer["sequence"]]})
        step = survey.next_step(answered, str(answer["event"].get("message", "")))
        if step == "ask":
            question, metadata = survey.question_event(survey.QUESTIONS[answered + 1])
            asked = conversation.publish(dialog, survey.SURVEY_BOT_ID, "AGENT", question, metadata=metadata,
                                         dialog_only=True)
            self.notify_messaging(read)
            self.notify_messaging(asked)
            return
        thanks = conversation.publish(dialog, survey.SURVEY_BOT_ID, "AGENT", survey.text_event(survey.THANKS))
        self.notify_messaging(read)
        self.notify_messaging(thanks)
        self.end_survey(conversation, "AGENT", "Completed" if step == "complete" else "Skipped")

    def _update_conversation(self, message: dict[str, Any], consumer: dict[str, Any]) -> Response:
        body = message["body"]
        conversation = self.store.conversations.get(str(body.get("conversationId")))
        if conversation is None:
            return self._reject(message, "Bad Request, unknown conversationId")
        if conversation.consumer_id != consumer["lp_consumer_id"]:
            return AuthError(40103).response()
        fields = body.get("conversationField")
        for change in fields if isinstance(fields, list) else [fields]:
            if not isinstance(change, dict):
                return self._reject(message, "Bad Request, conversationField")
            # ConversationStateField closes the conversation; Stage closes it with any survey in progress
            # (post-conversation-survey-pcs.md, "Additional Notes").
            if change.get("field") in ("ConversationStateField", "Stage") and change.get("conversationState") == "CLOSE":
                if conversation.stage == "CLOSE" or (change["field"] == "ConversationStateField"
                                                     and conversation.state == "CLOSE"
                                                     and conversation.survey_dialog() is None):
                    return self._reject(message, "Bad Request, Conversation is close")
                self.store.close(conversation, "CONSUMER", "Closed by consumer")
                self.notify_change(conversation)
                return JSONResponse({"reqId": message["id"], "code": "OK",
                                     "body": {"msg": "OK Conversation resolved successfully"}})
            if change.get("field") == "CSATRate":
                problem = _csat_problem(change)
                if problem:
                    return self._reject(message, f"Bad Request, {problem}")
                conversation.csat = {k: change[k] for k in ("csatRate", "csatResolutionConfirmation", "status")
                                     if k in change}
                conversation.touch()
                self.notify_change(conversation)
                return JSONResponse({"reqId": message["id"], "code": "OK", "body": {"msg": "OK CSAT submitted"}})
        return self._reject(message, "Bad Request, unsupported conversationField")

    def _log(self, request: Request, consumer: dict[str, Any], payload: Any) -> None:
        self.store.send_api_log.append({
            "endpoint": "conversation" if request.url.path.endswith("/conversation") else "send",
            "ext_consumer_id": consumer.get("ext_consumer_id"),
            "client_properties": request.headers.get("client-properties"),
            "payload": payload,
        })


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _is_request(message: Any) -> bool:
    return (isinstance(message, dict) and message.get("kind") == "req" and isinstance(message.get("id"), str | int)
            and 1 <= len(str(message["id"])) <= 64 and isinstance(message.get("type"), str)
            and isinstance(message.get("body"), dict))


def _batch_problem(batch: Any, account_id: str) -> str | None:
    if not isinstance(batch, list) or len(batch) < 2 or not all(_is_request(item) for item in batch):
        return "Bad Request, the body must be an array of at least two requests"
    if batch[0]["type"] != "userprofile.SetUserProfile" or batch[1]["type"] != "cm.ConsumerRequestConversation":
        return "Bad Request, expected userprofile.SetUserProfile then cm.ConsumerRequestConversation"
    if batch[1]["body"].get("brandId") != account_id:
        return "Bad Request, brandId is missing or not this account"
    return None


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "event is missing"
    kind = event.get("type")
    if kind == "ContentEvent":
        if event.get("contentType") == "text/plain" and isinstance(event.get("message"), str) and event["message"]:
            return None
        if event.get("contentType") == "hosted/file" and isinstance(event.get("message"), dict):
            return None
        return "ContentEvent needs contentType text/plain with a message, or hosted/file"
    if kind == "ChatStateEvent":
        return None if event.get("chatState") in CHAT_STATES else "unknown chatState"
    if kind == "AcceptStatusEvent":
        sequences = event.get("sequenceList")
        if event.get("status") in ACCEPT_STATUSES and isinstance(sequences, list) and sequences:
            return None
        return "AcceptStatusEvent needs a status and a sequenceList"
    if kind == "RichContentEvent":
        return None if isinstance(event.get("content"), dict) else "RichContentEvent needs content"
    return f"unknown event type {str(kind)[:64]}"


def _csat_problem(change: dict[str, Any]) -> str | None:
    rate, fcr = change.get("csatRate"), change.get("csatResolutionConfirmation")
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 5:
        return "csatRate must be an integer from 1 to 5"
    if fcr is not None and not isinstance(fcr, bool):  # left out when the consumer did not answer it
        return "csatResolutionConfirmation must be a boolean"
    if change.get("status") not in ("FILLED", "PARTIALLY_FILLED", "SKIPPED"):
        return "status must be FILLED, PARTIALLY_FILLED or SKIPPED"
    return None
