"""The connector on a secured Kafka, as a brand runs it: a real broker with a SASL_SSL listener (SCRAM credentials
stored by Kafka's own storage tool; OAUTHBEARER with Kafka's unsecured validator) and a mutual-TLS listener, with
certificates made for the test (devstack.tls). Every process of the stack is given only the secured address.

A refused login, an untrusted client certificate and a missing CA keep a process unready with one line naming
the setting, no secret in its log; once fixed, nothing the bridges acknowledged meanwhile is lost.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.broker import KafkaBroker
from devstack.ports import free_port
from devstack.stack import ManagedProcess, Stack, StackConfig
from emulators.liveengage.webhooks import Signing
from tests.conftest import wait_until
from tests.e2e.conftest import Sandboxes
from tests.e2e.test_walking_skeleton import notification

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(secured=True, log_path=tmp_path_factory.mktemp("secured-kafka") / "broker.log") as kafka:
        yield kafka


def scram(broker: KafkaBroker, **overrides: str) -> dict[str, str]:
    assert broker.certificates is not None
    return {"LEC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LEC_KAFKA_SASL_USERNAME": broker.scram_user, "LEC_KAFKA_SASL_PASSWORD": broker.scram_password,
            "LEC_KAFKA_SSL_CA_FILE": str(broker.certificates.ca_file)} | overrides


def oauthbearer(broker: KafkaBroker) -> dict[str, str]:
    assert broker.certificates is not None
    return {"LEC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEC_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER": "devstack.oauth:UnsecuredTokens",
            "LEC_KAFKA_SSL_CA_FILE": str(broker.certificates.ca_file)}


def mtls(broker: KafkaBroker, *, stranger: bool = False) -> dict[str, str]:
    certs = broker.certificates
    assert certs is not None
    identity = certs.stranger if stranger else certs.client
    return {"LEC_KAFKA_SECURITY_PROTOCOL": "SSL", "LEC_KAFKA_SSL_CA_FILE": str(certs.ca_file),
            "LEC_KAFKA_SSL_CERT_FILE": str(identity.certificate_file),
            "LEC_KAFKA_SSL_KEY_FILE": str(identity.key_file)}


def fresh_consumer() -> str:
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


def started_stack(bootstrap: str, settings: dict[str, str], run_dir: Path) -> Stack:
    # One app id for every stack of this module: each worker goes on from the offsets the one before committed
    # (the topics are shared), instead of replaying the earlier tests' records to its own sandboxes.
    config = StackConfig.on_free_ports(kafka_settings=settings, webhook_retry_interval_s=0.5)
    stack = Stack(bootstrap, config, run_dir)
    stack.start()
    return stack


@pytest.mark.parametrize("listener", ["sasl-ssl-scram", "sasl-ssl-oauthbearer", "mtls"])
def test_a_conversation_runs_both_ways_through_a_secured_listener(secured: KafkaBroker, tmp_path: Path,
                                                                  listener: str) -> None:
    bootstrap, settings = {
        "sasl-ssl-scram": (secured.secured_bootstrap, scram(secured)),
        "sasl-ssl-oauthbearer": (secured.secured_bootstrap, oauthbearer(secured)),
        "mtls": (secured.mtls_bootstrap, mtls(secured)),
    }[listener]
    stack = started_stack(bootstrap, settings, tmp_path)
    sandboxes, consumer = Sandboxes(stack), fresh_consumer()
    try:
        sandboxes.round_trip(consumer, "Hello over a secured Kafka", "Hi! Your parcel is on its way.")
        assert sandboxes.published_texts(consumer) == ["Hello over a secured Kafka"]
        if "LEC_KAFKA_SASL_PASSWORD" in settings:  # given to every process: in no log
            for name in ("worker", "channel-bridge", "webhook-bridge", "console"):
                assert settings["LEC_KAFKA_SASL_PASSWORD"] not in stack.processes[name].log()
    finally:
        sandboxes.http.close()
        stack.stop()


def bridge_with(broker_address: str, settings: dict[str, str], run_dir: Path) -> tuple[ManagedProcess, str, Stack]:
    """A webhook bridge alone, with these Kafka settings; its URL."""
    config = StackConfig.on_free_ports(kafka_settings=settings)
    stack = Stack(broker_address, config, run_dir)
    port = free_port()
    bridge = ManagedProcess("webhook-bridge", [sys.executable, "-m", "gateways", "liveengage", "--port", str(port)],
                            stack.connector_env(), run_dir / f"bridge-{port}.log")
    bridge.start()
    return bridge, f"http://127.0.0.1:{port}", stack


def readiness(url: str) -> dict[str, Any] | None:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=2.0)
    except httpx.HTTPError:
        return None
    return {"status_code": answer.status_code, **answer.json()}


def refused_problem(url: str) -> str:
    """The bridge's /readyz problem, once its first connection attempt was diagnosed."""
    def diagnosed() -> str | None:
        answer = readiness(url)
        problem = answer.get("problem") if answer else None
        return problem if problem and problem.startswith("LEC_KAFKA_") else None
    return wait_until(diagnosed, timeout=DEADLINE_S, what="a diagnosed /readyz problem")


@pytest.mark.parametrize("case", ["wrong-password", "untrusted-certificate", "missing-ca", "no-client-certificate"])
def test_a_bridge_that_cannot_log_in_is_unready_and_names_the_setting(secured: KafkaBroker, tmp_path: Path,
                                                                      case: str) -> None:
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    address, settings, named = {
        "wrong-password": (secured.secured_bootstrap, scram(secured, LEC_KAFKA_SASL_PASSWORD=wrong_password),
                           "LEC_KAFKA_SASL_USERNAME/LEC_KAFKA_SASL_PASSWORD: the broker at"),
        "untrusted-certificate": (secured.mtls_bootstrap, mtls(secured, stranger=True), "LEC_KAFKA_SSL_CERT_FILE"),
        "missing-ca": (secured.secured_bootstrap,
                       {k: v for k, v in scram(secured).items() if k != "LEC_KAFKA_SSL_CA_FILE"},
                       "LEC_KAFKA_SSL_CA_FILE: not set, and the system's CAs do not trust"),
        "no-client-certificate": (secured.mtls_bootstrap,
                                  {k: v for k, v in mtls(secured).items() if "CERT" not in k and "KEY" not in k},
                                  "LEC_KAFKA_SECURITY_PROTOCOL/LEC_KAFKA_SSL_CERT_FILE"),
    }[case]
    bridge, url, stack = bridge_with(address, settings, tmp_path)
    try:
        problem = refused_problem(url)
        assert problem.startswith(named), problem
        assert "\n" not in problem
        answer = readiness(url)
        assert answer is not None and answer["status_code"] == 503 and answer["status"] == "starting"
        # A webhook is refused, not acknowledged: LiveEngage retries it later.
        config = stack.config
        body = notification(f"refused-{uuid.uuid4()}", "not acknowledged while Kafka refuses the bridge")
        posted = httpx.post(f"{url}/v1/liveengage/webhooks", content=body, timeout=5.0, headers={
            "content-type": "application/json", "x-liveperson-account-id": config.account_id,
            "x-liveperson-client-id": config.client_id,
            "x-liveperson-signature": Signing().header(config.client_secret, body)})
        assert posted.status_code == 503
        assert posted.json()["error"]
        wait_until(lambda: problem in bridge.log(), timeout=10, what="the problem in the bridge's log")
        log = bridge.log()
        assert log.count(problem) == 1  # said once, not once per retry
        if case == "wrong-password":
            assert wrong_password not in log
        assert bridge.alive()
    finally:
        bridge.stop()


def test_a_worker_with_a_refused_login_waits_unready_and_loses_nothing_once_fixed(secured: KafkaBroker,
                                                                                  tmp_path: Path) -> None:
    stack = started_stack(secured.secured_bootstrap, scram(secured), tmp_path)
    sandboxes, consumer = Sandboxes(stack), fresh_consumer()
    try:
        assert sandboxes.consumer_says(consumer, "before")["bridge_status"] == 202
        wait_until(lambda: sandboxes.published_texts(consumer) == ["before"], timeout=DEADLINE_S,
                   what="the first text")
        worker = stack.processes["worker"]
        worker.stop()
        right_env = worker.env
        wrong_password = f"wrong-{uuid.uuid4().hex}"
        worker.env = right_env | {"LEC_KAFKA_SASL_PASSWORD": wrong_password}
        worker.start()
        worker_url = f"http://127.0.0.1:{stack.worker_port('worker')}"
        problem = refused_problem(worker_url)
        assert problem.startswith("LEC_KAFKA_SASL_USERNAME/LEC_KAFKA_SASL_PASSWORD: the broker at"), problem
        assert httpx.get(f"{worker_url}/livez", timeout=2.0).status_code == 200
        # The bridges still acknowledge: these wait in Kafka for the worker.
        during = [f"during {n}" for n in range(1, 4)]
        for text in during:
            assert sandboxes.consumer_says(consumer, text)["bridge_status"] == 202
        assert sandboxes.published_texts(consumer) == ["before"]
        assert worker.alive()
        assert wrong_password not in worker.log() and secured.scram_password not in worker.log()

        worker.stop()
        worker.env = right_env
        stack.start_worker("worker")
        wait_until(lambda: sandboxes.published_texts(consumer) == ["before", *during], timeout=DEADLINE_S,
                   what="every acknowledged text, once each, in order")
    finally:
        sandboxes.http.close()
        stack.stop()
