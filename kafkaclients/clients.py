"""The only constructors of Kafka clients: every producer, consumer and admin client takes the shared settings."""

from __future__ import annotations

from typing import Any

import faust.auth
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from kafkaclients.settings import KafkaConnection


def client_options(connection: KafkaConnection) -> dict[str, Any]:
    """aiokafka's connection keyword arguments (bootstrap, security protocol, TLS context, SASL)."""
    options: dict[str, Any] = {
        "bootstrap_servers": connection.kafka_brokers(),
        "security_protocol": connection.kafka_security_protocol,
    }
    if connection.kafka_uses_tls:
        options["ssl_context"] = connection.kafka_ssl_context
    if connection.kafka_uses_sasl:
        options["sasl_mechanism"] = connection.kafka_sasl_mechanism
        if connection.kafka_sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = connection.kafka_token_provider()
        else:
            password = connection.kafka_sasl_password
            options["sasl_plain_username"] = connection.kafka_sasl_username
            options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def producer(connection: KafkaConnection, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**client_options(connection), **options)


def consumer(connection: KafkaConnection, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **client_options(connection), **options)


def admin_client(connection: KafkaConnection, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(connection), **options)


def faust_options(connection: KafkaConnection) -> dict[str, Any]:
    """``faust.App`` keyword arguments for the same connection: broker URLs and credentials."""
    options: dict[str, Any] = {"broker": [f"kafka://{server}" for server in connection.kafka_brokers()]}
    context = connection.kafka_ssl_context
    mechanism = connection.kafka_sasl_mechanism
    if connection.kafka_uses_sasl and mechanism == "OAUTHBEARER":
        provider = connection.kafka_token_provider()
        assert provider is not None  # the settings refuse OAUTHBEARER without one
        options["broker_credentials"] = faust.auth.OAuthCredentials(oauth_cb=provider, ssl_context=context)
    elif connection.kafka_uses_sasl:
        password = connection.kafka_sasl_password
        options["broker_credentials"] = faust.auth.SASLCredentials(
            username=connection.kafka_sasl_username, password=password.get_secret_value() if password else None,
            ssl_context=context, mechanism=mechanism)
    elif context is not None:
        options["broker_credentials"] = faust.auth.SSLCredentials(context)
    return options
