"""The connector's version, from one place: ``pyproject.toml``, as installed. Every process answers ``--version``
with it, logs it when it starts and exports it as ``lec_build_info{version}``; the chart's ``appVersion`` and the
CHANGELOG's latest release are checked against it (``tests/unit/test_release.py``)."""

from __future__ import annotations

from importlib import metadata

from prometheus_client import Info

DISTRIBUTION = "liveengage-kafka-connector"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


BUILD_INFO = Info("lec_build", "The connector's version in this process")
BUILD_INFO.info({"version": version()})
