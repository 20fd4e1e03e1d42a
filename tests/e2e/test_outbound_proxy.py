"""Behind a corporate proxy: the worker reaches LiveEngage and the channel gateways through HTTP_PROXY and
HTTPS_PROXY (CONNECT), and directly for the hosts NO_PROXY names."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import tls
from devstack.broker import KafkaBroker
from devstack.forwardproxy import ForwardProxy
from devstack.stack import Stack, StackConfig
from tests.e2e.conftest import Sandboxes

pytestmark = pytest.mark.e2e

# A TLS server on 127.0.0.1 and one call to it through the worker's HTTP client, in a process of its own: the
# environment (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE) is read when aiohttp starts.
HTTPS_CALL = """
import asyncio, ssl, sys
from aiohttp import web
from streams.http import HttpClient

async def main(cert: str, key: str) -> None:
    app = web.Application()
    app.router.add_get("/v1/ping", lambda request: web.json_response({"pong": True}))
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with HttpClient(10.0) as client:
        answer = await client.send("GET", f"https://127.0.0.1:{port}/v1/ping")
    print(port, answer.status_code, answer.json()["pong"])
    await runner.cleanup()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    running = ForwardProxy().start()
    yield running
    running.stop()


@pytest.mark.parametrize("bypassed", [False, True], ids=["through-the-proxy", "no-proxy-for-this-host"])
def test_https_calls_tunnel_through_https_proxy_unless_no_proxy_names_the_host(
        proxy: ForwardProxy, tmp_path: Path, bypassed: bool) -> None:
    certificates = tls.create(tmp_path / "tls")
    env = {"PATH": "/usr/bin:/bin", "HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": str(certificates.ca_file),
           "NO_PROXY": "127.0.0.1" if bypassed else "liveengage.internal.example"}
    done = subprocess.run([sys.executable, "-c", HTTPS_CALL, str(certificates.broker.certificate_file),
                           str(certificates.broker.key_file)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    port, status, pong = done.stdout.split()
    assert (status, pong) == ("200", "True")
    assert proxy.seen == ([] if bypassed else [("CONNECT", f"127.0.0.1:{port}")])


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(log_path=tmp_path_factory.mktemp("proxy-kafka") / "broker.log") as kafka:
        yield kafka


def test_the_worker_reaches_liveengage_and_the_gateway_through_http_proxy(own_broker: KafkaBroker,
                                                                          proxy: ForwardProxy,
                                                                          tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(webhook_retry_interval_s=0.5,
                                       worker_env={"HTTP_PROXY": proxy.url, "NO_PROXY": ""})
    stack = Stack(own_broker.bootstrap, config, tmp_path)
    stack.start()
    sandboxes, consumer = Sandboxes(stack), f"+1555{uuid.uuid4().int % 10**7:07d}"
    try:
        sandboxes.round_trip(consumer, "Hello through the proxy", "Hi, the proxy let me through.")
        targets = {target for _, target in proxy.seen}
        assert f"127.0.0.1:{config.liveengage_port}" in targets  # Domain API, token, Send API
        assert f"127.0.0.1:{config.channel_port}" in targets  # the channel gateway's outbound API
        # Only the worker was given the proxy: the bridges and sandboxes talk directly.
        assert f"127.0.0.1:{config.webhook_bridge_port}" not in targets
    finally:
        sandboxes.http.close()
        stack.stop()
