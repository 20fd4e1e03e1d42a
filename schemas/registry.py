"""The Schema Registry wire format (README, "Schema Registry"): the settings, the registry's REST API, and the
registration that lets the codec write it.

With ``LEC_WIRE_FORMAT=registry`` each value is magic byte ``0``, the 4-byte big-endian id the registry gave its
writer schema, then the Avro binary body: what Kafka Connect's converters, ksqlDB, Flink SQL and the Kafka UIs read.
Schemas are registered under the topic-name strategy (subject ``<topic>-value``) with compatibility BACKWARD set on
each subject first, so an incompatible schema is refused at start, before any record is written. Readers accept
both formats whatever the setting: a deployment switches by rolling readers and then writers.

The registry speaks Confluent's REST API (Confluent Schema Registry, Apicurio under ``/apis/ccompat/v7``,
Karapace, Redpanda). Calls are synchronous: registration happens once at start, and a writer id not seen before is
fetched once, then cached.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import fastavro.schema
import httpx
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import SchemaError, load
from schemas import codec as codec_module
from schemas.codec import DecodeError

logger = logging.getLogger(__name__)

WireFormat = Literal["registry", "single-object"]
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY = "BACKWARD"
KEPT_RULES = frozenset({"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"})  # at least as strict


class RegistrySettingError(ValueError):
    """A registry setting that cannot work; the message starts with the variable's name."""


class RegistryError(SchemaError):
    """The registry refused a request or could not be reached; says which subject or id."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, None when the registry was not reached


class IncompatibleSchema(RegistryError):
    """The registry refused a schema under its subject's compatibility rule."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached, or answered 5xx or 429: nothing is wrong with the record. The worker
    stops without committing, as when Kafka fails (streams.engine.deadletters)."""


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEC_", extra="ignore", env_parse_none_str="null",
                                      env_ignore_empty=True)

    schema_registry_url: str | None = Field(default=None, description="Confluent-compatible Schema Registry API "
                                            "(Apicurio: https://host/apis/ccompat/v7)")
    schema_registry_username: str | None = Field(default=None, description="HTTP basic auth user of the registry")
    schema_registry_password: SecretStr | None = None
    schema_registry_ca_file: Path | None = Field(default=None, description="PEM CAs that signed the registry's "
                                                                           "certificate; the system's when unset")
    wire_format: WireFormat | None = Field(default=None, description="how values are written: registry (magic byte, "
                                           "schema id; the default with a registry URL) or single-object (Avro's "
                                           "registry-free format; the default without); both are always read")

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySettings:
        if self.wire_format == "registry" and not self.schema_registry_url:
            raise RegistrySettingError("LEC_WIRE_FORMAT: registry needs LEC_SCHEMA_REGISTRY_URL")
        if (self.schema_registry_username is None) != (self.schema_registry_password is None):
            raise RegistrySettingError("LEC_SCHEMA_REGISTRY_PASSWORD: set with LEC_SCHEMA_REGISTRY_USERNAME, or "
                                       "neither")
        if self.schema_registry_ca_file is not None and not self.schema_registry_ca_file.is_file():
            raise RegistrySettingError(f"LEC_SCHEMA_REGISTRY_CA_FILE: no file at {self.schema_registry_ca_file}")
        return self

    @property
    def writes_registry_format(self) -> bool:
        return (self.wire_format or ("registry" if self.schema_registry_url else "single-object")) == "registry"

    def registry_secrets(self) -> list[str]:
        """The secret values among these settings, for log redaction."""
        password = self.schema_registry_password
        return [password.get_secret_value()] if password is not None and password.get_secret_value() else []

    def registry_client(self) -> RegistryClient | None:
        if not self.schema_registry_url:
            return None
        auth = None
        if self.schema_registry_username is not None and self.schema_registry_password is not None:
            auth = (self.schema_registry_username, self.schema_registry_password.get_secret_value())
        return RegistryClient(self.schema_registry_url, auth=auth, ca_file=self.schema_registry_ca_file)


def subject(topic: str) -> str:
    """The subject of a topic's values under the topic-name strategy."""
    return f"{topic}-value"


def schema_text(record_name: str) -> str:
    """The record's schema as one self-contained JSON document (named types inline at first use), docs and
    defaults kept: what is registered, and what the registry's compatibility check reads."""
    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: plain(value) for key, value in node.items() if not key.startswith("__")}
        if isinstance(node, list):
            return [plain(value) for value in node]
        return node

    return json.dumps(plain(load(record_name)), separators=(",", ":"))


class RegistryClient:
    """The few calls of Confluent's Schema Registry API the connector makes."""

    def __init__(self, url: str, *, auth: tuple[str, str] | None = None, ca_file: Path | None = None,
                 timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._http = httpx.Client(auth=auth, verify=verify, timeout=timeout_s,
                                  headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})

    def _call(self, method: str, path: str, what: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, f"{self.url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"schema registry unreachable ({what}): {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailable(f"schema registry answered {response.status_code} to {what}: "
                                      f"{_message(response)}", response.status_code)
        if response.status_code >= 400:
            error = IncompatibleSchema if response.status_code == 409 and method == "POST" else RegistryError
            verb = "refused" if error is IncompatibleSchema else f"answered {response.status_code} to"
            raise error(f"schema registry {verb} {what}: {_message(response)}", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryError(f"schema registry answered {what} with no JSON", response.status_code) from exc

    def compatibility(self, subject_name: str) -> str | None:
        """The subject's own compatibility rule; None when it has none."""
        try:
            answer = self._call("GET", f"/config/{subject_name}", f"compatibility of {subject_name}")
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        # Confluent answers compatibilityLevel on GET, Apicurio on PUT too
        level = answer.get("compatibilityLevel") or answer.get("compatibility") if isinstance(answer, dict) else None
        return str(level) if level else None

    def set_compatibility(self, subject_name: str, level: str = COMPATIBILITY) -> None:
        self._call("PUT", f"/config/{subject_name}", f"compatibility of {subject_name}", {"compatibility": level})

    def register(self, subject_name: str, schema: str) -> int:
        """Register ``schema`` under ``subject_name`` (a no-op for one already there); its id."""
        answer = self._call("POST", f"/subjects/{subject_name}/versions", f"a schema under {subject_name}",
                            {"schema": schema})
        return int(answer["id"])

    def schema(self, schema_id: int) -> str:
        return str(self._call("GET", f"/schemas/ids/{schema_id}", f"schema id {schema_id}")["schema"])

    def close(self) -> None:
        self._http.close()


def _message(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:500]
    return str(answer.get("message", answer) if isinstance(answer, dict) else answer)[:500]


class RegistryWriters:
    """Writer schemas by registry id (the codec's ``WriterSource``): those this process registered, and any other
    fetched once. An id the registry does not know, or a schema that is not Avro, makes the record undecodable;
    a registry that cannot be reached raises ``RegistryUnavailable``."""

    def __init__(self, client: RegistryClient, known: dict[int, str] | None = None) -> None:
        self._client = client
        self._parsed = {schema_id: _parse(text) for schema_id, text in (known or {}).items()}
        self._lock = threading.Lock()  # CLIs and the console decode from threads too

    def writer(self, schema_id: int) -> Any:
        with self._lock:
            if schema_id not in self._parsed:
                try:
                    text = self._client.schema(schema_id)
                except RegistryUnavailable:
                    raise
                except RegistryError as exc:
                    raise DecodeError(f"schema id {schema_id}: {exc}") from exc
                self._parsed[schema_id] = _parse(text, schema_id)
            return self._parsed[schema_id]


def _parse(text: str, schema_id: int | None = None) -> Any:
    try:
        return fastavro.schema.parse_schema(json.loads(text))
    except Exception as exc:  # fastavro raises many types for what is not an Avro schema
        raise DecodeError(f"schema id {schema_id} is not an Avro schema: {exc.__class__.__name__}") from exc


def connect(settings: RegistrySettings, writes: Iterable[tuple[str, str]] = ()) -> None:
    """Set this process's codec up from its settings: it reads the registry format when a registry is set, and
    writes it when ``LEC_WIRE_FORMAT`` says so, having registered the record of each (topic, record) in ``writes``
    under the topic's subject first. Raises ``IncompatibleSchema`` when the registry refuses one, and
    ``RegistryError`` when it cannot be asked."""
    client = settings.registry_client()
    if client is None:
        return
    ids: dict[str, int] = {}
    known: dict[int, str] = {}
    if settings.writes_registry_format:
        for topic, record_name in writes:
            name, text = subject(topic), schema_text(record_name)
            schema_id = client.register(name, text)  # judged by the subject's rule, if it has one
            ids.setdefault(record_name, schema_id)
            known[schema_id] = text
            ensure_rule(client, name)
    codec_module.use_registry(RegistryWriters(client, known), ids)


def ensure_rule(client: RegistryClient, subject_name: str) -> None:
    """BACKWARD on a subject whose rule lets readers break (none, NONE, FORWARD); a stricter rule an operator set
    (BACKWARD_TRANSITIVE, FULL) is kept. Some registries answer with their global rule for a subject that has none
    of its own (Apicurio), and keep no rule before a subject's first version: so it is set once that is registered."""
    try:
        if client.compatibility(subject_name) not in KEPT_RULES:
            client.set_compatibility(subject_name)
    except RegistryUnavailable:
        raise
    except RegistryError as exc:
        if exc.status == 409:
            return  # another process set it at the same moment
        if exc.status in (401, 403):  # a user allowed to register but not to configure: the operator sets rules
            logger.warning("%s; the subject's compatibility is left to the registry's operator", exc)
            return
        raise
