"""The worker's LiveEngage client: AppJWT caching and early renewal, 401 handling, answers it cannot use."""

from __future__ import annotations

import base64
import json
import httpx
import pytest

from streams import http
from streams.errors import RemoteRejectedError, RemoteUnavailableError
from streams.liveengage import LiveEngageClient
from streams.settings import WorkerSettings

NOW = 1_800_000_000.0


def token(exp: float, serial: int) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": exp, "jti": serial}).encode()).decode().rstrip("=")
    return f"h.{payload}.s"


class FakeLiveEngage:
    def __init__(self) -> None:
        self.clock = NOW
        self.tokens_issued = 0
        self.send_answers: list[httpx.Response] = []
        self.authorizations: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("baseURI.json"):
            return httpx.Response(200, json={"baseURIs": [{"service": s, "baseURI": "le.test"} for s in
                                                         ("sentinel", "idp", "asyncMessagingEnt")]})
        if path.endswith("/app/token"):
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": token(self.clock + 3600, self.tokens_issued), "token_type": "Bearer"})
        self.authorizations.append(request.headers["authorization"])
        return self.send_answers.pop(0) if self.send_answers else httpx.Response(
            200, json={"reqId": "1", "code": "OK", "body": {"sequence": 3}})


@pytest.fixture
def fake() -> FakeLiveEngage:
    return FakeLiveEngage()


@pytest.fixture
def client(fake: FakeLiveEngage) -> LiveEngageClient:
    settings = WorkerSettings(liveengage_domain_api="https://csds.test",
                              liveengage_accounts={"acct": {"client_id": "c", "client_secret": "s"}}, channels={})
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return LiveEngageClient(http, settings, clock=lambda: fake.clock)


REQUEST = {"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {}}


async def test_app_jwt_is_cached_and_renewed_five_minutes_before_expiry(fake: FakeLiveEngage,
                                                                        client: LiveEngageClient) -> None:
    first = await client.app_jwt("acct")
    fake.clock += 3600 - 301
    assert await client.app_jwt("acct") == first and fake.tokens_issued == 1
    fake.clock += 2  # now less than five minutes before exp
    assert await client.app_jwt("acct") != first and fake.tokens_issued == 2


async def test_401_renews_the_app_jwt_and_retries_once(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [httpx.Response(401, json={"kind": "resp", "code": 401, "body": {"errorCode": 40102}})]
    answer = await client.send("acct", "jws", REQUEST)
    assert answer == {"sequence": 3}
    assert fake.tokens_issued == 2 and len(fake.authorizations) == 2
    assert fake.authorizations[0] != fake.authorizations[1]


async def test_a_second_401_is_not_retried_again(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [httpx.Response(401, json={})] * 2
    with pytest.raises(RemoteRejectedError) as raised:
        await client.send("acct", "jws", REQUEST)
    assert raised.value.status == 401 and len(fake.authorizations) == 2


@pytest.mark.parametrize(("answer", "error"), [
    (httpx.Response(400, json={"code": "BAD_REQUEST", "body": {"msg": "Bad Request, Conversation is close"}}),
     RemoteRejectedError),
    (httpx.Response(429), RemoteUnavailableError),
    (httpx.Response(503), RemoteUnavailableError),
    (httpx.Response(200, text="<html>"), RemoteRejectedError),
    (httpx.Response(200, json={"code": "BAD_REQUEST", "body": {"msg": "nope"}}), RemoteRejectedError),
])
async def test_answers_map_to_errors(fake: FakeLiveEngage, client: LiveEngageClient, answer: httpx.Response,
                                     error: type[Exception]) -> None:
    fake.send_answers = [answer]
    with pytest.raises(error):
        await client.send("acct", "jws", REQUEST)


async def test_in_body_message_is_kept_for_the_caller(fake: FakeLiveEngage, client: LiveEngageClient) -> None:
    fake.send_answers = [httpx.Response(400, json={"code": "BAD_REQUEST",
                                                   "body": {"msg": "Bad Request, Conversation is close"}})]
    with pytest.raises(RemoteRejectedError, match="Conversation is close"):
        await client.send("acct", "jws", REQUEST)




@pytest.mark.parametrize(("failure", "ambiguous"), [
    (httpx.ConnectError("refused"), False),  # never sent: a retry cannot duplicate it
    (httpx.ReadTimeout("no answer in time"), True),
    (httpx.ReadError("connection dropped mid-answer"), True),
    (httpx.ConnectTimeout("what the aiohttp transport reports for a dropped connection"), True),
])
async def test_transport_failures_are_retriable_and_ambiguous_unless_never_sent(failure: httpx.TransportError,
                                                                              ambiguous: bool) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(RemoteUnavailableError) as raised:
            await http.request(client, "POST", "http://le.test/send", what="Send API")
    assert raised.value.retriable and raised.value.ambiguous is ambiguous
