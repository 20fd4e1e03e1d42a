"""Releases: one version, a CHANGELOG, a lock file that satisfies pyproject.toml, and the installed commands.

The version is pyproject.toml's: the chart's appVersion and the CHANGELOG follow it, every process prints it
under ``--version`` and exports it as ``lec_build_info``. requirements.lock (the image's dependencies) pins every
runtime dependency within its range, with hashes. Every ``[project.scripts]`` command points at a function that
exists, and each of the worker's tools lists its settings under ``--help``.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client import REGISTRY

from streams.__main__ import ENTRY_POINTS, build_parser
from telemetry.version import version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
MAINS = ["streams.__main__", "gateways.__main__", "console.__main__", "analytics.__main__",
         "emulators.liveengage.__main__", "emulators.channel.__main__"]


def locked(name: str = "requirements.lock") -> dict[str, tuple[str, int]]:
    """Each package of a lock file: its pinned version and how many hashes it has."""
    text = (ROOT / name).read_text()
    found = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        pin = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if pin:
            found[canonicalize_name(pin.group(1))] = (pin.group(2), block.count("--hash=sha256:"))
    return found


def test_one_version_everywhere() -> None:
    assert version() == PROJECT["version"]  # as installed
    chart = yaml.safe_load((ROOT / "helm" / "lec-connector" / "Chart.yaml").read_text())
    assert chart["appVersion"] == PROJECT["version"]
    releases = re.findall(r"^## \[(\d[^\]]*)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == PROJECT["version"], "the CHANGELOG's latest release is this version"
    info = {sample.labels.get("version") for family in REGISTRY.collect() if family.name == "lec_build"
            for sample in family.samples}
    assert info == {PROJECT["version"]}


@pytest.mark.parametrize("module", MAINS)
def test_every_process_answers_version(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip().endswith(PROJECT["version"])


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    pins = locked()
    requirements = [Requirement(text) for text in PROJECT["dependencies"]]
    requirements += [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]  # built in the image
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: make lock"
        assert requirement.specifier.contains(pins[name][0]), f"{name}=={pins[name][0]} outside {requirement}"
    assert all(hashes > 0 for _, hashes in pins.values()), "every pin has its hashes"


def test_the_tests_run_on_the_versions_the_image_ships() -> None:
    """requirements-dev.lock (the venv's constraints) pins every package requirements.lock (the image's) does,
    at the same version; and it covers the test and bench extras too."""
    image, dev = locked(), locked("requirements-dev.lock")
    shared = {name: version for name, (version, _) in image.items() if name != "setuptools"}  # a build tool
    assert {name: dev[name][0] for name in shared if name in dev} == shared and set(shared) <= set(dev)
    extras = [Requirement(text) for group in PROJECT["optional-dependencies"].values() for text in group]
    assert all(canonicalize_name(r.name) in dev and r.specifier.contains(dev[canonicalize_name(r.name)][0])
               for r in extras)


def test_every_command_points_at_a_function() -> None:
    scripts: dict[str, str] = PROJECT["scripts"]
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
    assert set(ENTRY_POINTS.values()) <= set(scripts)
    for command, entry in ENTRY_POINTS.items():
        assert scripts[entry].startswith("streams.__main__:"), entry


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_each_tool_lists_its_settings(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(ENTRY_POINTS[command]).parse_args([command, "--help"])
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: {ENTRY_POINTS[command]}")
    assert "LEC_KAFKA_BOOTSTRAP (default '127.0.0.1:9092')" in shown
    assert "LEC_KAFKA_SASL_PASSWORD (a secret, optional)" in shown
