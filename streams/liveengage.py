"""The LiveEngage client: Domain API, AppJWT (Sentinel), ConsumerJWS (IdP) and the Send API.

Domains are cached for ten minutes; the AppJWT is cached per account until five minutes before it expires and
renewed once when LiveEngage answers 401 for it. A 401 whose documented ``errorCode`` names the ConsumerJWS
(40103 invalid, 40104 missing) raises ``ConsumerJwsRejectedError`` instead: ConsumerJWS never expire, callers keep
them in conversation state and fetch a new one (Connector API ``SendAPI/authorization-and-authentication.md``).
Request bodies go as UTF-8 JSON without ASCII escaping, since LiveEngage limits a request's characters.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


from streams import http, requests, tokens
from streams.errors import ConsumerJwsRejectedError, RemoteRejectedError, UnknownChannelError
from streams.settings import WorkerSettings

logger = logging.getLogger(__name__)

DOMAIN_TTL_S = 600.0
APP_JWT_EARLY_RENEWAL_S = 300.0
MIN_THROTTLE_S = 1.0
CONSUMER_JWS_ERRORS = (40103, 40104)  # Invalid ConsumerJWS, ConsumerJWS is missing; the rest are the AppJWT's


@dataclass(frozen=True)
class ConsumerToken:
    jws: str
    lp_consumer_id: str | None


@dataclass
class _Cached:
    value: Any
    expires_at: float


class LiveEngageClient:
    """Talks to LiveEngage on behalf of consumers. Safe for concurrent use by many coroutines."""

    def __init__(self, client: http.HttpClient, settings: WorkerSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.http = client
        self._settings = settings
        self._clock = clock
        self._domains: dict[str, _Cached] = {}
        self._app_jwts: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._throttled_until: dict[str, float] = {}

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def base_url(self, account_id: str, service: str) -> str:
        """``scheme://host`` of one of the account's services, from the (cached) Domain API."""
        cached = self._domains.get(account_id)
        if cached is None or cached.expires_at <= self._clock():
            async with self._lock(f"domains:{account_id}"):
                cached = self._domains.get(account_id)
                if cached is None or cached.expires_at <= self._clock():
                    cached = _Cached(await self._fetch_domains(account_id), self._clock() + DOMAIN_TTL_S)
                    self._domains[account_id] = cached
        host = cached.value.get(service)
        if host is None:
            raise RemoteRejectedError(f"Domain API lists no {service} for account {account_id}", status=404)
        return f"{self._settings.liveengage_scheme}://{host}"

    async def _fetch_domains(self, account_id: str) -> dict[str, str]:
        url = f"{self._settings.liveengage_domain_api}/api/account/{account_id}/service/baseURI.json"
        response = await http.request(self.http, "GET", url, params={"version": "1.0"}, what="Domain API")
        http.raise_for_status(response, what="Domain API")
        answer = http.json_body(response, what="Domain API")
        entries = answer.get("baseURIs", []) if isinstance(answer, dict) else []
        return {entry["service"]: entry["baseURI"] for entry in entries if "service" in entry and "baseURI" in entry}

    async def app_jwt(self, account_id: str, *, renew: bool = False) -> str:
        """A valid AppJWT for the account; ``renew`` forces a new one (after a 401)."""
        cached = self._app_jwts.get(account_id)
        if not renew and cached is not None and cached.expires_at > self._clock():
            return str(cached.value)
        async with self._lock(f"jwt:{account_id}"):
            current = self._app_jwts.get(account_id)
            if current is not None and current is not cached and current.expires_at > self._clock():
                return str(current.value)  # another coroutine renewed it while this one waited
            token = await self._fetch_app_jwt(account_id)
            expiry = float(tokens.claims(token).get("exp", self._clock() + 3600))
            self._app_jwts[account_id] = _Cached(token, expiry - APP_JWT_EARLY_RENEWAL_S)
            return token

    async def _fetch_app_jwt(self, account_id: str) -> str:
        credentials = self._settings.liveengage_accounts.get(account_id)
        if credentials is None:
            raise UnknownChannelError(f"no LiveEngage credentials configured for account {account_id}")
        url = f"{await self.base_url(account_id, 'sentinel')}/sentinel/api/account/{account_id}/app/token"
        # During a rotation the new secret may be configured before LiveEngage has it: the previous one then
        # still obtains AppJWTs (README, "Secret rotation").
        secrets = [credentials.client_secret, *filter(None, [credentials.previous_client_secret])]
        for secret in secrets:
            form = {"client_id": credentials.client_id, "client_secret": secret.get_secret_value()}
            response = await http.request(self.http, "POST", url, what="Sentinel AppJWT",
                                          params={"v": "1.0", "grant_type": "client_credentials"}, data=form)
            if response.status_code != 401 or secret is secrets[-1]:
                break
            logger.warning("Sentinel refused account %s's client secret: trying its previous one", account_id)
        http.raise_for_status(response, what="Sentinel AppJWT")
        token = http.json_body(response, what="Sentinel AppJWT")
        if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
            raise RemoteRejectedError("Sentinel answered without an access_token", status=response.status_code)
        logger.info("obtained an AppJWT for account %s", account_id)
        return str(token["access_token"])

    async def consumer_token(self, account_id: str, ext_consumer_id: str) -> ConsumerToken:
        url = f"{await self.base_url(account_id, 'idp')}/api/account/{account_id}/consumer"

        async def post(app_jwt: str) -> http.Answer:
            return await http.request(self.http, "POST", url, what="IdP ConsumerJWS", params={"v": "1.0"},
                                      json={"ext_consumer_id": ext_consumer_id},
                                      headers={"Authorization": app_jwt})

        response = await self._with_app_jwt(account_id, post)
        http.raise_for_status(response, what="IdP ConsumerJWS")
        answer = http.json_body(response, what="IdP ConsumerJWS")
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise RemoteRejectedError("IdP answered without a token", status=response.status_code)
        jws = answer["token"]
        return ConsumerToken(jws, tokens.claims(jws).get("lp_consumer_id"))

    async def open_conversation(self, account_id: str, consumer_jws: str, batch: list[dict[str, Any]]) -> str:
        """POST the CONVERSATION batch; return the new conversation id."""
        answers = await self._send_api(account_id, "conversation", consumer_jws, batch)
        if not isinstance(answers, list) or len(answers) < len(batch):
            raise RemoteRejectedError("CONVERSATION answered with an unexpected body", status=200)
        opened = answers[-1]
        conversation_id = opened.get("body", {}).get("conversationId") if _ok(opened) else None
        if not conversation_id:
            raise RemoteRejectedError(f"CONVERSATION refused: {_message(opened)}", status=400,
                                      code=str(opened.get("code")))
        return str(conversation_id)

    async def send(self, account_id: str, consumer_jws: str, request: dict[str, Any]) -> dict[str, Any]:
        """POST one SEND request; return its answer's body."""
        answer = await self._send_api(account_id, "conversation/send", consumer_jws, request)
        if not isinstance(answer, dict) or not _ok(answer):
            raise RemoteRejectedError(f"SEND {request['type']} refused: {_message(answer)}", status=400,
                                      code=str(answer.get("code")) if isinstance(answer, dict) else None)
        body = answer.get("body")
        return body if isinstance(body, dict) else {}

    async def upload_file(self, account_id: str, consumer_jws: str, data: bytes, file_type: str) -> str:
        """Ask for an upload URL, PUT the bytes to LiveEngage's file storage; return the file's relativePath."""
        target = await self.send(account_id, consumer_jws, requests.upload_url(len(data), file_type))
        relative_path, query = target.get("relativePath"), target.get("queryParams")
        if not isinstance(relative_path, str) or not isinstance(query, dict):
            raise RemoteRejectedError("GenerateURLForUploadFile answered without relativePath", status=200)
        url = f"{await self.base_url(account_id, 'swift')}{relative_path}"
        response = await http.request(self.http, "PUT", url, params=query, data=data, what="file upload")
        http.raise_for_status(response, what="file upload")
        return relative_path

    async def download_url(self, account_id: str, consumer_jws: str, relative_path: str) -> str:
        """A temporary URL of a shared file (valid about a minute): GenerateURLForDownloadFile, then the file
        storage's address (Connector API SendAPI/examples.md, "Request Download URL")."""
        target = await self.send(account_id, consumer_jws, requests.download_url(relative_path))
        path, query = target.get("relativePath"), target.get("queryParams")
        if not isinstance(path, str) or not isinstance(query, dict):
            raise RemoteRejectedError("GenerateURLForDownloadFile answered without relativePath", status=200)
        return f"{await self.base_url(account_id, 'swift')}{path}?{urllib.parse.urlencode(query)}"

    async def _send_api(self, account_id: str, path: str, consumer_jws: str, payload: Any) -> Any:
        url = f"{await self.base_url(account_id, 'asyncMessagingEnt')}" \
              f"/api/account/{account_id}/messaging/consumer/{path}"
        what = f"Send API {path}"

        body = requests.body_bytes(payload)

        async def post(app_jwt: str) -> http.Answer:
            headers = {"Authorization": app_jwt, "X-LP-ON-BEHALF": consumer_jws, "Content-Type": "application/json"}
            return await http.request(self.http, "POST", url, what=what, params={"v": "3"}, data=body,
                                      headers=headers)

        response = await self._with_app_jwt(account_id, post)
        if response.status_code != 400:  # 400 carries in-body BAD_REQUEST answers: the caller reads them
            http.raise_for_status(response, what=what)
        return http.json_body(response, what=what)

    async def _with_app_jwt(self, account_id: str, post: Callable[[str], Any]) -> http.Answer:
        """Call ``post`` with the cached AppJWT; on 401 renew it and call once more. After a 429, every call
        for that account waits out its Retry-After (at least 1 s, as LiveEngage asks) first."""
        wait = self._throttled_until.get(account_id, 0.0) - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        response: http.Answer = await post(await self.app_jwt(account_id))
        if response.status_code == 401:
            _raise_for_consumer_jws(response)
            logger.info("LiveEngage answered 401 for account %s; renewing the AppJWT", account_id)
            response = await post(await self.app_jwt(account_id, renew=True))
            if response.status_code == 401:
                _raise_for_consumer_jws(response)
        if response.status_code == 429:
            pause = max(http.retry_after(response) or 0.0, MIN_THROTTLE_S)
            self._throttled_until[account_id] = self._clock() + pause
            logger.warning("LiveEngage throttled account %s; pausing its calls for %.1fs", account_id, pause)
        return response


def _raise_for_consumer_jws(response: http.Answer) -> None:
    """A 401 whose errorCode is about the ConsumerJWS; any other 401 (or none readable) is the AppJWT's. The page's
    own example pairs 40104 with the title "AppJWT is missing" (its table: 40105), so such a title wins."""
    try:
        body = response.json()
    except ValueError:
        return
    error = body.get("body") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return
    code, title = error.get("errorCode"), str(error.get("title", ""))
    if code in CONSUMER_JWS_ERRORS and "AppJWT" not in title:
        raise ConsumerJwsRejectedError(f"ConsumerJWS refused (errorCode {code})", status=401, code=str(code))


def _ok(answer: dict[str, Any]) -> bool:
    return answer.get("code") in ("OK", 200, "200")


def _message(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("body"), dict):
        return str(answer["body"].get("msg", answer.get("code")))[:200]
    return "unexpected answer"
