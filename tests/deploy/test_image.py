"""The images the Dockerfile builds, checked without a Docker engine.

The Dockerfile is read stage by stage: the default image (the last stage) holds the connector and nothing of the
sandboxes, the local stack or the benchmark; the sandbox image adds the sandboxes; both carry OCI labels. Then the
connector image's own steps are replayed in a fresh virtual environment from a folder holding only what that
image copies: the locked dependencies with their hashes, the package without its dependencies, the sandboxes'
commands removed. Its commands then answer ``--help`` and ``--version``, and no sandbox can be imported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = {"schemas", "kafkaclients", "deadletters", "adapters", "gateways", "streams", "telemetry", "analytics"}
SANDBOXES = {"emulators", "console"}
DEVELOPMENT = {"devstack", "bench"}  # run from the repository (make run, make bench): in no image
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def stages() -> dict[str, dict[str, object]]:
    """Each stage of the Dockerfile: its parent, what it copies (its parents' too), its labels and its lines."""
    found: dict[str, dict[str, object]] = {}
    current: dict[str, object] = {}
    for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "FROM":
            parent = found.get(words[1])
            current = {"parent": words[1], "copies": set(parent["copies"]) if parent else set(),  # type: ignore
                       "lines": list(parent["lines"]) if parent else [],  # type: ignore[call-overload]
                       "labels": dict(parent["labels"]) if parent else {}}  # type: ignore[call-overload]
            found[words[3] if len(words) > 3 else f"stage{len(found)}"] = current
        elif words[0] == "COPY":
            current["copies"].update(words[1:-1])  # type: ignore[attr-defined]  # sources, then the destination
        elif words[0] == "LABEL":
            current["labels"].update(re.findall(r'(\S+)="([^"]*)"', line))  # type: ignore[attr-defined]
        current["lines"].append(line)  # type: ignore[attr-defined]
    return found


def test_the_default_image_is_the_connector_alone() -> None:
    images = stages()
    assert list(images)[-1] == "connector", "the last stage is what a plain docker build makes"
    files = {"pyproject.toml", "README.md", "requirements.lock"}
    assert images["connector"]["copies"] == CONNECTOR | files
    assert images["sandbox"]["copies"] == CONNECTOR | SANDBOXES | files
    packages = {name.rstrip("*") for name in
                tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages == CONNECTOR | SANDBOXES | DEVELOPMENT


def test_the_images_carry_oci_labels() -> None:
    for name in ("connector", "sandbox"):
        labels: dict[str, str] = stages()[name]["labels"]  # type: ignore[assignment]
        assert labels["org.opencontainers.image.version"] == "${VERSION}"
        assert labels["org.opencontainers.image.revision"] == "${REVISION}"
        assert labels["org.opencontainers.image.licenses"] == PROJECT["license"]
    makefile = (ROOT / "Makefile").read_text()
    assert "--build-arg VERSION=$(VERSION)" in makefile and "--build-arg REVISION=" in makefile


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("LEC_", "PYTHON"))}
    return subprocess.run([str(arg) for arg in args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def connector_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment built as the connector image is: its ``bin`` folder."""
    app = tmp_path_factory.mktemp("app")
    for source in stages()["connector"]["copies"]:  # type: ignore[attr-defined]
        (shutil.copytree if (ROOT / source).is_dir() else shutil.copy)(ROOT / source, app / source)
    venv = tmp_path_factory.mktemp("image") / "venv"
    done = run(sys.executable, "-m", "venv", venv, cwd=app)
    assert done.returncode == 0, done.stderr
    bin_ = venv / "bin"
    lines: list[str] = stages()["connector"]["lines"]  # type: ignore[assignment]
    installs = [line.split("RUN ", 1)[1].split("&&")[0].split() for line in lines if line.startswith("RUN pip install")]
    assert len(installs) == 2, installs  # the locked dependencies, then the package
    for install in installs:
        done = run(bin_ / "python", "-m", *install, cwd=app)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for command in bin_.glob("lec-sandbox-*"):  # as the connector stage does
        command.unlink()
    return bin_


def test_the_connector_image_installs_from_the_lock_alone(connector_image: Path, tmp_path: Path) -> None:
    commands = {path.name for path in connector_image.glob("lec-*")}
    assert commands == {name for name in PROJECT["scripts"] if not name.startswith("lec-sandbox-")}
    for command in sorted(commands):
        done = run(connector_image / command, "--version", cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.strip().endswith(PROJECT["version"]), (command, done)
    for command in ("lec-worker", "lec-bridge", "lec-dead-letters", "lec-erase", "lec-topics",
                    "lec-register-webhooks"):
        done = run(connector_image / command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and "LEC_KAFKA_BOOTSTRAP" in done.stdout, (command, done)
    worker_help = run(connector_image / "lec-worker", "--help", cwd=tmp_path).stdout
    assert worker_help.startswith("usage: lec-worker") and "LEC_LIVEENGAGE_ACCOUNTS (required)" in worker_help
    for module in SANDBOXES | DEVELOPMENT:
        done = run(connector_image / "python", "-c", f"import {module}", cwd=tmp_path)
        assert "ModuleNotFoundError" in done.stderr, module
