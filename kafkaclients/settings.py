"""The Kafka connection settings (``LEC_KAFKA_*``), the same for every process that opens a Kafka client.

A process's own settings class inherits ``KafkaConnection``; a tool with no settings of its own reads it alone.
Every problem found here names the variable to fix and never prints a secret.
"""

from __future__ import annotations

import importlib
import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from aiokafka.abc import AbstractTokenProvider
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettingError(ValueError):
    """A Kafka setting that cannot work; the message starts with the variable's name."""


class KafkaConnection(BaseSettings):
    # An empty variable is unset: compose passes optional settings as "${VAR:-}".
    model_config = SettingsConfigDict(env_prefix="LEC_", extra="ignore", env_parse_none_str="null",
                                      env_ignore_empty=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="host:port of brokers, comma-separated")
    kafka_security_protocol: SecurityProtocol = Field(default="PLAINTEXT")
    kafka_sasl_mechanism: SaslMechanism | None = Field(default=None, description="needed with SASL_* protocols")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_oauth_token_provider: str | None = Field(
        default=None, description="module:name of an aiokafka AbstractTokenProvider class or factory (OAUTHBEARER: MSK "
                          "IAM, OIDC); imported at start")
    kafka_ssl_ca_file: Path | None = Field(default=None, description="PEM bundle of the CAs that signed the "
                                                                     "brokers' certificates; the system's when unset")
    kafka_ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate for mutual TLS")
    kafka_ssl_key_file: Path | None = Field(default=None, description="PEM private key of the client certificate")
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = Field(default=True, description="check the broker's certificate names it")

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaConnection:
        protocol = self.kafka_security_protocol
        if self.kafka_uses_sasl:
            mechanism = self.kafka_sasl_mechanism
            if mechanism is None:
                raise KafkaSettingError(f"LEC_KAFKA_SASL_MECHANISM: needed with LEC_KAFKA_SECURITY_PROTOCOL="
                                        f"{protocol} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)")
            if mechanism == "OAUTHBEARER":
                if not self.kafka_sasl_oauth_token_provider:
                    raise KafkaSettingError("LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: needed with OAUTHBEARER")
            else:
                for name, value in (("USERNAME", self.kafka_sasl_username), ("PASSWORD", self.kafka_sasl_password)):
                    if value is None or not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                        raise KafkaSettingError(f"LEC_KAFKA_SASL_{name}: needed with SASL mechanism {mechanism}")
        elif self.kafka_sasl_mechanism is not None:
            raise KafkaSettingError(f"LEC_KAFKA_SASL_MECHANISM: set, but LEC_KAFKA_SECURITY_PROTOCOL={protocol} "
                                    f"does not use SASL (SASL_SSL or SASL_PLAINTEXT do)")
        files = {"CA_FILE": self.kafka_ssl_ca_file, "CERT_FILE": self.kafka_ssl_cert_file,
                 "KEY_FILE": self.kafka_ssl_key_file}
        if not self.kafka_uses_tls:
            for name, path in files.items():
                if path is not None:
                    raise KafkaSettingError(f"LEC_KAFKA_SSL_{name}: set, but LEC_KAFKA_SECURITY_PROTOCOL={protocol} "
                                            f"does not use TLS (SSL or SASL_SSL do)")
            return self
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            missing = "LEC_KAFKA_SSL_KEY_FILE" if self.kafka_ssl_key_file is None else "LEC_KAFKA_SSL_CERT_FILE"
            raise KafkaSettingError(f"{missing}: mutual TLS needs both the client certificate and its key")
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise KafkaSettingError(f"LEC_KAFKA_SSL_{name}: {path} is not a readable file")
        self.kafka_ssl_context  # a bad PEM file is a start-up error, not a connection error later
        if self.kafka_sasl_oauth_token_provider:
            self.kafka_token_provider()
        return self

    @cached_property
    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client, or None without TLS. Verifies the broker's certificate always."""
        if not self.kafka_uses_tls:
            return None
        ca = self.kafka_ssl_ca_file
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca else None)
        except ssl.SSLError as exc:
            raise KafkaSettingError(f"LEC_KAFKA_SSL_CA_FILE: {ca} holds no PEM certificate ({exc.reason})") from None
        except OSError as exc:  # unreadable: a Secret mounted for another user
            raise KafkaSettingError(f"LEC_KAFKA_SSL_CA_FILE: {ca} cannot be read ({exc.strerror})") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = self.kafka_ssl_check_hostname
        if self.kafka_ssl_cert_file is not None and self.kafka_ssl_key_file is not None:
            # Never None: OpenSSL would prompt on the terminal for an encrypted key's password.
            password = self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else ""
            try:
                context.load_cert_chain(str(self.kafka_ssl_cert_file), str(self.kafka_ssl_key_file), password)
            except ssl.SSLError as exc:
                raise KafkaSettingError(f"LEC_KAFKA_SSL_CERT_FILE/LEC_KAFKA_SSL_KEY_FILE: the certificate and key "
                                        f"do not load ({exc.reason}; a wrong LEC_KAFKA_SSL_KEY_PASSWORD?)") from None
            except OSError as exc:
                raise KafkaSettingError(f"LEC_KAFKA_SSL_CERT_FILE/LEC_KAFKA_SSL_KEY_FILE: cannot be read "
                                        f"({exc.strerror})") from None
        return context

    def kafka_token_provider(self) -> AbstractTokenProvider | None:
        """A new OAUTHBEARER token provider named by ``module:name`` (a class or a factory taking no argument).

        New for each client: a provider may hold state bound to the event loop it first ran in (an HTTP
        session), and the worker's preflight and Faust run in different loops.
        """
        spec = self.kafka_sasl_oauth_token_provider
        if not spec:
            return None
        module_name, _, attribute = spec.partition(":")
        try:
            made: Any = getattr(importlib.import_module(module_name), attribute)()
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            raise KafkaSettingError(f"LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: {spec} does not load "
                                    f"({exc.__class__.__name__}); expected module:name") from None
        if not isinstance(made, AbstractTokenProvider):
            raise KafkaSettingError(f"LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: {spec} gave a {type(made).__name__}, "
                                    "not an aiokafka AbstractTokenProvider")
        return made

    def kafka_brokers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap.split(",") if server.strip()]

    def kafka_secrets(self) -> list[str]:
        """The secret values among these settings, for log redaction."""
        secrets = (self.kafka_sasl_password, self.kafka_ssl_key_password)
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
