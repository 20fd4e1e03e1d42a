"""The shared Kafka connection settings: every wrong combination is one line naming the variable, never a secret;
every client gets the same options; unknown LEC_* variables are reported with the closest known name."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import faust.auth
import pytest
from pydantic import ValidationError

from devstack import tls
from devstack.oauth import UnsecuredTokens
from gateways.settings import ChannelBridgeSettings, WebhookBridgeSettings
from kafkaclients import KafkaConnection, client_options, faust_options
from streams.settings import WorkerSettings
from telemetry import startup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tls.DevCertificates:
    return tls.create(tmp_path_factory.mktemp("certs"))


def problem(**settings: object) -> str:
    with pytest.raises(ValidationError) as caught:
        KafkaConnection(**settings)  # type: ignore[arg-type]
    return startup.describe_invalid(caught.value)


@pytest.mark.parametrize(("settings", "named"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "LEC_KAFKA_SASL_MECHANISM: needed with LEC_KAFKA_SECURITY_PROTOCOL"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "u"},
     "LEC_KAFKA_SASL_PASSWORD: needed with SASL mechanism SCRAM-SHA-512"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "OAUTHBEARER"},
     "LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: needed with OAUTHBEARER"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER",
      "kafka_sasl_oauth_token_provider": "no_such_module:Tokens"}, "LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: no_such"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER",
      "kafka_sasl_oauth_token_provider": "json:JSONDecoder"}, "not an aiokafka AbstractTokenProvider"),
    ({"kafka_sasl_mechanism": "PLAIN"}, "LEC_KAFKA_SASL_MECHANISM: set, but LEC_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
    ({"kafka_ssl_ca_file": "/etc/hostname"}, "LEC_KAFKA_SSL_CA_FILE: set, but LEC_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/no/such/ca.pem"},
     "LEC_KAFKA_SSL_CA_FILE: /no/such/ca.pem is not a readable file"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/etc/hostname"},
     "LEC_KAFKA_SSL_CA_FILE: /etc/hostname holds no PEM certificate"),
    ({"kafka_security_protocol": "TLS"}, "LEC_KAFKA_SECURITY_PROTOCOL: Input should be"),
])
def test_a_setting_that_cannot_work_is_one_line_naming_the_variable(settings: dict[str, object], named: str) -> None:
    described = problem(**settings)
    assert named in described, described
    assert described.startswith("configuration error: ") and "\n" not in described


def test_a_certificate_needs_its_key_and_a_bad_key_password_is_named(certificates: tls.DevCertificates) -> None:
    base = {"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": certificates.ca_file}
    assert "LEC_KAFKA_SSL_KEY_FILE: mutual TLS needs both" in problem(
        **base, kafka_ssl_cert_file=certificates.client.certificate_file)
    mismatched = problem(**base, kafka_ssl_cert_file=certificates.client.certificate_file,
                         kafka_ssl_key_file=certificates.stranger.key_file)
    assert "LEC_KAFKA_SSL_CERT_FILE/LEC_KAFKA_SSL_KEY_FILE: the certificate and key do not load" in mismatched


def test_secrets_stay_out_of_the_error(certificates: tls.DevCertificates) -> None:
    described = problem(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                        kafka_sasl_password="hunter2-secret", kafka_ssl_ca_file=certificates.ca_file)
    assert "LEC_KAFKA_SASL_USERNAME" in described and "hunter2-secret" not in described


def test_every_client_gets_tls_and_sasl_from_the_same_settings(certificates: tls.DevCertificates) -> None:
    connection = KafkaConnection(
        kafka_bootstrap="b-1.kafka:9096, b-2.kafka:9096", kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="lec", kafka_sasl_password="s3cret",
        kafka_ssl_ca_file=certificates.ca_file)
    options = client_options(connection)
    assert options["bootstrap_servers"] == ["b-1.kafka:9096", "b-2.kafka:9096"]
    assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("lec", "s3cret")
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    faust_app = faust_options(connection)
    assert faust_app["broker"] == ["kafka://b-1.kafka:9096", "kafka://b-2.kafka:9096"]
    credentials = faust_app["broker_credentials"]
    assert isinstance(credentials, faust.auth.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert credentials.ssl_context is context
    assert connection.kafka_secrets() == ["s3cret"]


def test_mutual_tls_and_oauthbearer_reach_faust_too(certificates: tls.DevCertificates) -> None:
    mutual = KafkaConnection(kafka_security_protocol="SSL", kafka_ssl_ca_file=certificates.ca_file,
                             kafka_ssl_cert_file=certificates.client.certificate_file,
                             kafka_ssl_key_file=certificates.client.key_file, kafka_ssl_check_hostname=False)
    assert isinstance(faust_options(mutual)["broker_credentials"], faust.auth.SSLCredentials)
    assert client_options(mutual)["ssl_context"].check_hostname is False
    oauth = KafkaConnection(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="OAUTHBEARER",
                            kafka_sasl_oauth_token_provider="devstack.oauth:UnsecuredTokens",
                            kafka_ssl_ca_file=certificates.ca_file)
    provider = client_options(oauth)["sasl_oauth_token_provider"]
    assert isinstance(provider, UnsecuredTokens)
    assert provider is not client_options(oauth)["sasl_oauth_token_provider"]  # one per client: loop-bound state
    assert isinstance(faust_options(oauth)["broker_credentials"], faust.auth.OAuthCredentials)
    plain = KafkaConnection()
    assert "broker_credentials" not in faust_options(plain) and "ssl_context" not in client_options(plain)


def test_the_environment_sets_the_same_names_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEC_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LEC_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("LEC_KAFKA_SASL_USERNAME", "lec")
    monkeypatch.setenv("LEC_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("LEC_KAFKA_SSL_CA_FILE", "")  # as compose passes an unset one
    connection = KafkaConnection()
    assert connection.kafka_uses_sasl and not connection.kafka_uses_tls and connection.kafka_ssl_ca_file is None


def test_the_worker_refuses_more_replicas_in_sync_than_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEC_CHANNELS", "{}")
    monkeypatch.setenv("LEC_LIVEENGAGE_ACCOUNTS", "{}")
    monkeypatch.setenv("LEC_KAFKA_REPLICATION_FACTOR", "1")
    with pytest.raises(ValidationError) as caught:
        WorkerSettings()  # type: ignore[call-arg]
    assert "LEC_KAFKA_MIN_INSYNC_REPLICAS: 2 is more than LEC_KAFKA_REPLICATION_FACTOR=1" in \
        startup.describe_invalid(caught.value)
    monkeypatch.delenv("LEC_KAFKA_REPLICATION_FACTOR")
    defaults = WorkerSettings()  # type: ignore[call-arg]
    assert (defaults.kafka_replication_factor, defaults.kafka_min_insync_replicas) == (3, 2)


def env_names(settings_class: type) -> set[str]:
    return {f"LEC_{name.upper()}" for name in settings_class.model_fields}  # type: ignore[attr-defined]


def test_the_list_of_known_settings_is_every_process_setting_and_every_variable_the_code_reads() -> None:
    processes = set().union(*(env_names(c) for c in (ChannelBridgeSettings, WebhookBridgeSettings, WorkerSettings)))
    read_by_code = set()
    for path in ROOT.glob("[a-z]*/**/*.py"):
        if ".venv" in path.parts or path == Path(__file__).resolve():  # this file misspells on purpose
            continue
        read_by_code |= set(re.findall(r"\"(LEC_[A-Z0-9_]+[A-Z0-9])\"", path.read_text()))
    console = {f"LEC_CONSOLE_{name.upper()}" for name in ("host", "port", "token", "liveengage_url", "channel_url")}
    assert processes <= startup.CONNECTOR_SETTINGS
    assert read_by_code - startup.CONNECTOR_SETTINGS == set()
    assert startup.CONNECTOR_SETTINGS - processes - read_by_code - console == set()


def test_an_unknown_variable_is_reported_with_the_closest_known_name(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"LEC_KAFKA_BOOTSTRAPS": "x", "LEC_KAFKA_SASL_PASWORD": "secret-value", "LEC_CHANNELS": "{}",
               "LEC_TOTALLY_DIFFERENT_THING": "1", "PATH": "/bin",
               # Kubernetes' service links for a release named "lec": not settings, and not reported
               "LEC_LEC_CONNECTOR_WORKER_SERVICE_HOST": "10.0.0.7", "LEC_LEC_CONNECTOR_WORKER_SERVICE_PORT": "6066",
               "LEC_LEC_CONNECTOR_WORKER_SERVICE_PORT_HTTP": "6066",
               "LEC_LEC_CONNECTOR_WORKER_PORT": "tcp://10.0.0.7:6066",
               "LEC_LEC_CONNECTOR_WORKER_PORT_6066_TCP_ADDR": "10.0.0.7"}
    assert startup.unknown_settings(environ) == [("LEC_KAFKA_BOOTSTRAPS", "LEC_KAFKA_BOOTSTRAP"),
                                                 ("LEC_KAFKA_SASL_PASWORD", "LEC_KAFKA_SASL_PASSWORD"),
                                                 ("LEC_TOTALLY_DIFFERENT_THING", None)]
    with caplog.at_level("WARNING"):
        startup.warn_unknown_settings(environ)
    assert "LEC_KAFKA_SASL_PASWORD is not a setting of the connector and is ignored; did you mean " \
           "LEC_KAFKA_SASL_PASSWORD?" in caplog.text
    assert "secret-value" not in caplog.text


def test_no_kafka_client_is_constructed_without_the_shared_settings() -> None:
    constructed = re.compile(r"\bAIOKafka(Producer|Consumer|AdminClient|Client)\(")
    apps = re.compile(r"= faust\.App\(([^)]*)")  # a call, not a mention
    offenders, apps_seen = [], 0
    for path in ROOT.glob("[a-z]*/**/*.py"):
        if ".venv" in path.parts or path.parts[-2:] == ("kafkaclients", "clients.py"):
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in constructed.finditer(text)]
        for call in apps.finditer(text):
            apps_seen += 1
            if "**faust_options(" not in call.group(1):
                offenders.append(f"{path.relative_to(ROOT)}: faust.App without faust_options")
    assert offenders == []
    assert apps_seen >= 2  # the worker's app and the benchmark's Faust pipeline
