"""The worker's LiveEngage client: AppJWT caching and early renewal, 401 handling, answers it cannot use, and
transport failures, against a local HTTP server."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from devstack.ports import free_port
from streams import http
from streams.errors import ConsumerJwsRejectedError, RemoteRejectedError, RemoteUnavailableError
from streams.liveengage import LiveEngageClient
from streams.settings import WorkerSettings

NOW = 1_800_000_000.0
Canned = tuple[int, Any]  # (status, JSON body, or str for a non-JSON body)


def token(exp: float, serial: int) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": exp, "jti": serial}).encode()).decode().rstrip("=")
    return f"h.{payload}.s"


def reply(status: int, body: Any = None) -> web.Response:
    if isinstance(body, str):
        return web.Response(status=status, text=body, content_type="text/html")
    return web.json_response(body if body is not None else {}, status=status)


class FakeLiveEngage:
    """Domain API, Sentinel and Send API on one server; Send API answers are queued by the test."""

    def __init__(self) -> None:
        self.clock = NOW
        self.tokens_issued = 0
        self.send_answers: list[Canned] = []
        self.authorizations: list[str] = []
        self.bodies: list[bytes] = []
        self.host = ""
        self.secret = "s"  # the client secret Sentinel accepts
        self.secrets_tried: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path.endswith("baseURI.json"):
            return reply(200, {"baseURIs": [{"service": s, "baseURI": self.host} for s in
                                            ("sentinel", "idp", "asyncMessagingEnt", "swift")]})
        if path.endswith("/app/token"):
            self.secrets_tried.append((await request.post())["client_secret"])
            if self.secrets_tried[-1] != self.secret:
                return reply(401, {"error": "invalid_client"})
            self.tokens_issued += 1
            return reply(200, {"access_token": token(self.clock + 3600, self.tokens_issued), "token_type": "Bearer"})
        self.authorizations.append(request.headers["authorization"])
        self.bodies.append(await request.read())
        if self.send_answers:
            return reply(*self.send_answers.pop(0))
        return reply(200, {"reqId": "1", "code": "OK", "body": {"sequence": 3}})


async def serve(handler: Any) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
def fake() -> FakeLiveEngage:
    return FakeLiveEngage()


@pytest.fixture
async def client(fake: FakeLiveEngage) -> AsyncIterator[LiveEngageClient]:
    server = await serve(fake.handle)
    fake.host = f"127.0.0.1:{server.port}"
    settings = WorkerSettings(liveengage_domain_api=f"http://{fake.host}", liveengage_scheme="http",
                              liveengage_accounts={"acct": {"client_id": "c", "client_secret": "s"}}, channels={})
    async with http.new_client(5.0) as connection:
        yield LiveEngageClient(connection, settings, clock=lambda: fake.clock)
    await server.close()


REQUEST = {"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {}}


async def test_during_a_rotation_the_previous_client_secret_still_obtains_app_jwts(fake: FakeLiveEngage) -> None:
    server = await serve(fake.handle)
    fake.host = f"127.0.0.1:{server.port}"
    settings = WorkerSettings(liveengage_domain_api=f"http://{fake.host}", liveengage_scheme="http", channels={},
                              liveengage_accounts={"acct": {"client_id": "c", "client_secret": "new",
                                                            "previous_client_secret": "s"}})
    try:
        async with http.new_client(5.0) as connection:
            client = LiveEngageClient(connection, settings, clock=lambda: fake.clock)
            await client.app_jwt("acct")  # LiveEngage has not switched yet
            assert fake.secrets_tried == ["new", "s"] and fake.tokens_issued == 1
            fake.secret = "new"  # it has now
            await client.app_jwt("acct", renew=True)
            assert fake.secrets_tried[2:] == ["new"] and fake.tokens_issued == 2
            fake.secret = "neither"
            with pytest.raises(RemoteRejectedError) as refused:
                await client.app_jwt("acct", renew=True)
            assert refused.value.status == 401 and fake.secrets_tried[3:] == ["new", "s"]
    finally:
        await server.close()


async def test_app_jwt_is_cached_and_renewed_five_minutes_before_expiry(fake: FakeLiveEngage,
                                                                        client: LiveEngageClient) -> None:
    first = await client.app_jwt("acct")
    fake.clock += 3600 - 301
    assert await client.app_jwt("acct") == first and fake.tokens_issued == 1
    fake.clock += 2  # now less than five minutes before exp
    assert await client.app_jwt("acct") != first and fake.tokens_issued == 2


async def test_401_renews_the_app_jwt_and_retries_once(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [(401, {"kind": "resp", "code": 401, "body": {"errorCode": 40102}})]
    answer = await client.send("acct", "jws", REQUEST)
    assert answer == {"sequence": 3}
    assert fake.tokens_issued == 2 and len(fake.authorizations) == 2
    assert fake.authorizations[0] != fake.authorizations[1]


async def test_a_second_401_is_not_retried_again(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [(401, {})] * 2
    with pytest.raises(RemoteRejectedError) as raised:
        await client.send("acct", "jws", REQUEST)
    assert raised.value.status == 401 and len(fake.authorizations) == 2


@pytest.mark.parametrize(("answer", "error"), [
    ((400, {"code": "BAD_REQUEST", "body": {"msg": "Bad Request, Conversation is close"}}), RemoteRejectedError),
    ((429, {}), RemoteUnavailableError),
    ((503, {}), RemoteUnavailableError),
    ((200, "<html>"), RemoteRejectedError),
    ((200, {"code": "BAD_REQUEST", "body": {"msg": "nope"}}), RemoteRejectedError),
])
async def test_answers_map_to_errors(fake: FakeLiveEngage, client: LiveEngageClient, answer: Canned,
                                     error: type[Exception]) -> None:
    fake.send_answers = [answer]
    with pytest.raises(error):
        await client.send("acct", "jws", REQUEST)


async def test_in_body_message_is_kept_for_the_caller(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [(400, {"code": "BAD_REQUEST", "body": {"msg": "Bad Request, Conversation is close"}})]
    with pytest.raises(RemoteRejectedError, match="Conversation is close"):
        await client.send("acct", "jws", REQUEST)


async def throttle(request: web.Request) -> web.Response:
    return web.Response(status=429, headers={"Retry-After": "7"})


async def test_retry_after_is_read_from_a_429() -> None:
    async with http.new_client(5.0) as connection:
        server = await serve(throttle)
        try:
            answer = await http.request(connection, "POST", f"http://127.0.0.1:{server.port}/send", what="Send API")
        finally:
            await server.close()
    assert answer.status_code == 429 and http.retry_after(answer) == 7.0


async def never_answer(request: web.Request) -> web.Response:
    await asyncio.Event().wait()  # until the server closes: the client's timeout comes first
    raise AssertionError("unreachable")


async def drop_connection(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()  # the request arrived; the connection dies before any answer
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("handler", "ambiguous"), [
    (None, False),  # nothing listens: never sent, a retry cannot duplicate it
    (never_answer, True),  # timed out: it may have been carried out
    (drop_connection, True),  # dropped after the request was sent
])
async def test_transport_failures_are_retriable_and_ambiguous_unless_never_sent(handler: Any,
                                                                              ambiguous: bool) -> None:
    server = await serve(handler) if handler is not None else None
    port = server.port if server is not None else free_port()
    try:
        async with http.new_client(0.5) as connection:
            with pytest.raises(RemoteUnavailableError) as raised:
                await http.request(connection, "POST", f"http://127.0.0.1:{port}/send", what="Send API", json={})
    finally:
        if server is not None:
            await server.close()
    assert raised.value.retriable and raised.value.ambiguous is ambiguous


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "liveperson"


async def test_a_consumer_jws_error_is_raised_without_renewing_the_app_jwt(fake: FakeLiveEngage,
                                                                          client: LiveEngageClient) -> None:
    body = {"kind": "resp", "code": 401, "type": ".ReqBody$ErrorResp",
            "body": {"title": "Invalid ConsumerJWS", "details": "ConsumerJWS is invalid", "errorCode": 40103}}
    fake.send_answers = [(401, body)]
    with pytest.raises(ConsumerJwsRejectedError) as raised:
        await client.send("acct", "jws", REQUEST)
    assert raised.value.code == "40103" and fake.tokens_issued == 1 and len(fake.authorizations) == 1


async def test_the_documented_example_401_renews_the_app_jwt(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    """authorization-and-authentication.md's example: "AppJWT is missing" with errorCode 40104 (its table: 40105)."""
    documented = json.loads((FIXTURES / "authorization-and-authentication.error-response.json").read_text())
    fake.send_answers = [(401, documented)]
    assert await client.send("acct", "jws", REQUEST) == {"sequence": 3}
    assert fake.tokens_issued == 2 and len(fake.authorizations) == 2


async def test_bodies_are_sent_as_utf8_without_escapes(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    await client.send("acct", "jws", {**REQUEST, "body": {"message": "Здравствуйте 🙂"}})
    assert "Здравствуйте 🙂".encode() in fake.bodies[-1] and b"\\u" not in fake.bodies[-1]


async def test_a_download_url_from_the_documented_answer(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    """SendAPI/examples.md, "Request Download URL": the file storage's address with the answer's query."""
    documented = json.loads((FIXTURES / "sendapi-examples.download-url-answer.json").read_text())
    fake.send_answers = [(200, documented)]
    url = await client.download_url("acct", "jws", documented["body"]["relativePath"])
    assert url == (f"http://{fake.host}{documented['body']['relativePath']}"
                   "?temp_url_sig=384bcb0b188920909d4a068473824e964ecbffcd&temp_url_expires=1528379356")
    assert json.loads(fake.bodies[-1])["type"] == "ms.GenerateURLForDownloadFile"
