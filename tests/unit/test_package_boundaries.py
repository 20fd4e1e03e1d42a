"""The design's boundaries between packages, read from the imports in the source: the bridges and the worker
never import each other; the sandbox console and the local stack import neither; the sandboxes import nothing of
the connector; and nothing of the connector's image imports the sandboxes, the console, the local stack or the
benchmark (the image does not hold them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = {"gateways", "streams", "adapters", "schemas", "kafkaclients", "deadletters", "telemetry", "analytics",
             "console"}
NOT_IN_THE_IMAGE = {"emulators", "console", "devstack", "bench"}
FORBIDDEN = {
    "gateways": {"streams"} | NOT_IN_THE_IMAGE,
    "streams": {"gateways"} | NOT_IN_THE_IMAGE,
    **{package: NOT_IN_THE_IMAGE for package in ("adapters", "schemas", "kafkaclients", "deadletters", "telemetry",
                                                 "analytics")},
    "console": {"streams", "gateways"},
    "devstack": {"streams", "gateways"},
    "emulators": CONNECTOR,
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` with the top-level packages it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_it_must_not(package: str) -> None:
    crossings = {module: sorted(names & FORBIDDEN[package]) for module, names in imported_packages(package).items()
                 if names & FORBIDDEN[package]}
    assert crossings == {}
