"""The Avro contracts of every topic: load and parse a schema by its full name, once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro.schema

SCHEMA_DIR = Path(__file__).resolve().parent
NAMESPACE = "liveengage.connector"


class SchemaError(Exception):
    """Root of schema and codec errors: a schema is missing, or bytes do not decode."""


def qualified(name: str) -> str:
    """The full name of a record given by its short or full name."""
    return name if "." in name else f"{NAMESPACE}.{name}"


@cache
def load(name: str) -> Any:
    """The parsed schema of record ``name`` (short or full name), with the named types it references.

    Raises:
        SchemaError: no ``<full name>.avsc`` file exists.
    """
    full_name = qualified(name)
    path = SCHEMA_DIR / f"{full_name}.avsc"
    if not path.exists():
        message = f"no schema file for {full_name}"
        raise SchemaError(message)
    return fastavro.schema.load_schema(str(path))


def all_record_names() -> list[str]:
    """Full names of every record schema shipped in this package."""
    return sorted(p.name.removesuffix(".avsc") for p in SCHEMA_DIR.glob("*.avsc"))


HISTORY_DIR = SCHEMA_DIR / "history"


def earlier_writers() -> list[Any]:
    """Earlier versions of changed schemas (``history/<full name>.<fingerprint>.json``, named types inline): records
    they wrote stay in the changelogs and topics after an upgrade, and must still decode. Before a schema changes,
    its released version is saved there."""
    return [fastavro.schema.parse_schema(json.loads(path.read_text())) for path in sorted(HISTORY_DIR.glob("*.json"))]
