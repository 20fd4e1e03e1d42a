"""Why a process cannot reach Kafka, as one line that names the setting to fix.

aiokafka's clients only say "Unable to bootstrap" when a login or a TLS handshake fails; the cause is in their
own log at best. So a process that cannot connect asks once more here, over a single connection of its own
(aiokafka's public ``create_conn``), and translates what failed: a refused login, a certificate nobody trusts,
a listener that speaks another protocol. No secret goes into the message.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (ClusterAuthorizationFailedError, GroupAuthorizationFailedError,
                             KafkaConnectionError, KafkaError, SaslAuthenticationFailed,
                             TopicAuthorizationFailedError, UnsupportedSaslMechanismError)
from aiokafka.protocol.metadata import MetadataRequest

from kafkaclients.clients import admin_client, client_options
from kafkaclients.settings import KafkaConnection


async def diagnose(connection: KafkaConnection, *, timeout_s: float = 5.0) -> str | None:
    """None once some broker of ``LEC_KAFKA_BOOTSTRAP`` answers a metadata request; else why none did.

    The brokers are asked at once, so a list of unreachable ones costs one timeout, not one each.
    """
    servers = connection.kafka_brokers()
    if not servers:
        return "LEC_KAFKA_BOOTSTRAP: no broker address given"
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            return f"LEC_KAFKA_BOOTSTRAP: {server!r} is not host:port"
    problems = await asyncio.gather(*(_ask(connection, server, timeout_s) for server in servers))
    return None if None in problems else problems[0]


async def _ask(connection: KafkaConnection, server: str, timeout_s: float) -> str | None:
    options = client_options(connection)
    del options["bootstrap_servers"]
    host, _, port = server.rpartition(":")
    try:
        async with asyncio.timeout(timeout_s):
            conn = await create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options)
            try:
                await conn.send(MetadataRequest([]))
            finally:
                conn.close()
        return None
    except Exception as exc:  # noqa: BLE001 - whatever failed (a token provider's own error too) is explained
        return explain(exc, connection, server)


REFUSALS = (ClusterAuthorizationFailedError, TopicAuthorizationFailedError, GroupAuthorizationFailedError)


def explain(exc: BaseException, connection: KafkaConnection, server: str) -> str:
    """What ``exc``, raised while a client reached ``server``, says about the settings: one line."""
    protocol = connection.kafka_security_protocol
    mechanism = connection.kafka_sasl_mechanism
    if isinstance(exc, REFUSALS):  # logged in, but no ACL allows what the client asked
        principal = (f"User:{connection.kafka_sasl_username}" if connection.kafka_sasl_username else
                     "the client certificate's subject" if connection.kafka_ssl_cert_file else "this principal")
        return (f"LEC_KAFKA_SASL_USERNAME/LEC_KAFKA_SSL_CERT_FILE: the broker at {server} refused {principal} "
                f"({exc.__class__.__name__}): an ACL is missing; python -m streams topics prints each role's")
    if isinstance(exc, SaslAuthenticationFailed):
        setting = ("LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER" if mechanism == "OAUTHBEARER"
                   else "LEC_KAFKA_SASL_USERNAME/LEC_KAFKA_SASL_PASSWORD")
        return f"{setting}: the broker at {server} refused the {mechanism} login"
    if isinstance(exc, UnsupportedSaslMechanismError):
        return f"LEC_KAFKA_SASL_MECHANISM: the broker at {server} does not accept {mechanism} on this listener"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        if "hostname" in str(reason).lower() or "ip address mismatch" in str(reason).lower():
            return (f"LEC_KAFKA_BOOTSTRAP/LEC_KAFKA_SSL_CHECK_HOSTNAME: the certificate of the broker at {server} "
                    f"does not name that host ({reason})")
        ca = connection.kafka_ssl_ca_file
        trust = f"{ca} does not" if ca else "not set, and the system's CAs do not"
        return f"LEC_KAFKA_SSL_CA_FILE: {trust} trust the certificate of the broker at {server} ({reason})"
    if isinstance(exc, ssl.SSLError):
        return (f"LEC_KAFKA_SECURITY_PROTOCOL: the TLS handshake with {server} failed ({exc.reason}); is that "
                f"listener TLS ({protocol} expects it)?")
    if isinstance(exc, ConnectionResetError) and connection.kafka_uses_tls:
        return (f"LEC_KAFKA_SECURITY_PROTOCOL: the broker at {server} reset the TLS handshake; that listener may "
                f"not use TLS (PLAINTEXT or SASL_PLAINTEXT)")
    if isinstance(exc, KafkaConnectionError) and "closed" in str(exc):
        if not connection.kafka_uses_tls:
            return (f"LEC_KAFKA_SECURITY_PROTOCOL: {protocol}, and the broker at {server} closed the connection; "
                    f"does that listener want TLS (SSL or SASL_SSL) or SASL?")
        if connection.kafka_ssl_cert_file is not None:
            return (f"LEC_KAFKA_SSL_CERT_FILE: the broker at {server} closed the connection after TLS; it may not "
                    f"trust the client certificate (or want SASL: LEC_KAFKA_SECURITY_PROTOCOL)")
        return (f"LEC_KAFKA_SECURITY_PROTOCOL/LEC_KAFKA_SSL_CERT_FILE: the broker at {server} closed the "
                f"connection after TLS; that listener may want a client certificate (mutual TLS) or SASL")
    if isinstance(exc, TimeoutError):
        return f"LEC_KAFKA_BOOTSTRAP: the broker at {server} did not answer in time"
    if not isinstance(exc, (OSError, KafkaError)) and mechanism == "OAUTHBEARER":  # the provider's own error
        return (f"LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: {connection.kafka_sasl_oauth_token_provider} failed to "
                f"give a token for {server} ({exc.__class__.__name__})")
    if isinstance(exc, OSError):
        return f"LEC_KAFKA_BOOTSTRAP: cannot connect to {server} ({exc.strerror or exc.__class__.__name__})"
    return f"LEC_KAFKA_BOOTSTRAP: the broker at {server} failed ({exc.__class__.__name__})"


async def listed_topics(connection: KafkaConnection) -> set[str]:
    """The topics the cluster lists. A listing never creates a topic, unlike a metadata request naming one on
    a broker with ``auto.create.topics.enable`` (Kafka's default)."""
    admin = admin_client(connection)
    try:
        await admin.start()
        return set(await admin.list_topics())
    finally:
        await admin.close()
