"""The project's one owner of a real Prometheus: fetch it, configure it to scrape a running stack, start, query, stop.

Prometheus comes from Debian's ``prometheus`` package, unpacked into ``.tools/prometheus`` with ``apt-get download``
and ``dpkg -x`` (nothing is installed system-wide and no daemon is started), so ``make test`` and ``make run`` get the
same binaries, ``prometheus`` and ``promtool``, on any Debian machine. A ``prometheus`` already on PATH is used when
the unpacked one is absent.

The server loads the chart's alert rules (``helm/lec-connector/files/alert-rules.yaml``), so the rules a cluster
would run are evaluated here against the stack's real metrics.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.stack import ManagedProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = PROJECT_ROOT / ".tools" / "prometheus"
UNPACKED_BIN = TOOLS / "usr" / "bin"
ALERT_RULES = PROJECT_ROOT / "helm" / "lec-connector" / "files" / "alert-rules.yaml"
DASHBOARD = PROJECT_ROOT / "helm" / "lec-connector" / "files" / "dashboard-overview.json"


class PrometheusError(RuntimeError):
    pass


def ensure_installed() -> Path:
    """Unpack Debian's prometheus package into .tools/prometheus once; return the directory of its binaries."""
    if (UNPACKED_BIN / "prometheus").exists():
        return UNPACKED_BIN
    downloads = TOOLS.parent / "deb"
    downloads.mkdir(parents=True, exist_ok=True)
    for old in downloads.glob("prometheus_*.deb"):
        old.unlink()
    fetch = ["apt-get", "download", "prometheus"]
    done = subprocess.run(fetch, cwd=downloads, capture_output=True, text=True)
    if done.returncode != 0:  # a machine whose package lists were never fetched: fetch them once, then again
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, check=False)
        done = subprocess.run(fetch, cwd=downloads, capture_output=True, text=True)
    packages = sorted(downloads.glob("prometheus_*.deb"))
    if done.returncode != 0 or not packages:
        raise PrometheusError(f"apt-get download prometheus failed:\n{done.stderr[-2000:]}")
    unpack = subprocess.run(["dpkg", "-x", str(packages[-1]), str(TOOLS)], capture_output=True, text=True)
    if unpack.returncode != 0:
        raise PrometheusError(f"dpkg -x failed:\n{unpack.stderr[-2000:]}")
    return UNPACKED_BIN


def binary(name: str = "prometheus") -> Path | None:
    """The unpacked ``prometheus`` or ``promtool``, else the one on PATH, else None."""
    unpacked = UNPACKED_BIN / name
    if unpacked.exists():
        return unpacked
    found = shutil.which(name)
    return Path(found) if found else None


def scrape_config(targets: dict[str, list[str]], interval_s: float, rule_files: list[Path]) -> str:
    """A Prometheus configuration scraping each job's ``host:port`` targets on /metrics."""
    interval = f"{interval_s:g}s"
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": hosts}]}
                           for job, hosts in targets.items()],
    }
    return str(yaml.safe_dump(config, sort_keys=False))


class PrometheusApi:
    """Prometheus's HTTP API at ``url``: range queries, targets, rules and alerts."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def _api(self, path: str, **params: str) -> Any:
        body = self.http.get(f"{self.url}/api/v1/{path}", params=params).json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        data = self._api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s:g}")
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._api("targets")["activeTargets"])

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._api("rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now."""
        return list(self._api("alerts")["alerts"])

    def wait_for_scrapes(self, timeout: float = 60.0) -> None:
        """Return once every target has been scraped successfully."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            time.sleep(0.5)
        raise PrometheusError(f"targets not all up after {timeout:.0f}s: {self.targets()}")


class PrometheusServer(PrometheusApi):
    """A Prometheus on 127.0.0.1:``port`` with its own data directory under ``run_dir``."""

    def __init__(self, port: int, run_dir: Path) -> None:
        super().__init__(f"http://127.0.0.1:{port}")
        self.port = port
        self.run_dir = run_dir
        self.process: ManagedProcess | None = None

    def start(self, targets: dict[str, list[str]], interval_s: float = 5.0,
              rule_files: tuple[Path, ...] = (ALERT_RULES,), timeout: float = 60.0) -> None:
        executable = binary()
        if executable is None:
            raise PrometheusError("prometheus is not installed: make test and make run unpack it into .tools/")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "prometheus.yml"
        config.write_text(scrape_config(targets, interval_s, list(rule_files)))
        self.process = ManagedProcess("prometheus", [
            str(executable), f"--config.file={config}", f"--storage.tsdb.path={self.run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d",
        ], {}, self.run_dir / "prometheus.log")
        self.process.start()
        self.process.wait_http(f"{self.url}/-/ready", timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.close()
