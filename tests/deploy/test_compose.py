"""docker-compose.yml, checked without a Docker engine: the Compose Specification's own Go loader (``composecheck``,
built by ``make test``) validates it against the specification's JSON schema, interpolates it with the credentials
``make compose-env`` writes and checks its consistency; these tests then check the wiring of the resolved project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import prometheus
from devstack.compose_env import compose_env, dotenv

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSECHECK = ROOT / ".tools" / "composecheck"
SANDBOX_ROLES = {"liveengage-sandbox", "channel-sandbox", "console"}  # from the sandbox image
CONNECTOR_ROLES = {"channel-bridge", "webhook-bridge", "worker", "register-webhooks", "liveengage-sandbox",
                   "channel-sandbox", "console"}


def composecheck(compose: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert COMPOSECHECK.exists(), "composecheck is missing: make test builds it into .tools/"
    clean = {name: value for name, value in os.environ.items() if name not in env}
    return subprocess.run([str(COMPOSECHECK), compose.name], cwd=compose.parent, env=clean | env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def credentials() -> dict[str, str]:
    return compose_env()


@pytest.fixture(scope="module")
def project(credentials: dict[str, str]) -> dict[str, Any]:
    done = composecheck(COMPOSE, credentials)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def test_the_stack_has_every_part(project: dict[str, Any]) -> None:
    assert set(project["services"]) == CONNECTOR_ROLES | {"kafka", "prometheus", "grafana"}
    for role in CONNECTOR_ROLES:
        service = project["services"][role]
        assert service["build"]["dockerfile"] == "Dockerfile" and Path(service["build"]["context"]) == ROOT
        assert service["build"]["target"] == ("sandbox" if role in SANDBOX_ROLES else "connector"), role


def test_without_credentials_it_says_how_to_make_them(tmp_path: Path, credentials: dict[str, str]) -> None:
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)  # a folder without .env
    done = composecheck(tmp_path / COMPOSE.name, {name: "" for name in credentials})
    assert done.returncode != 0
    assert "run `make compose-env` first" in done.stderr and "LEC_CHANNELS" in done.stderr


def test_the_schema_refuses_a_misspelt_key(tmp_path: Path, credentials: dict[str, str]) -> None:
    broken = COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periode:")
    (tmp_path / COMPOSE.name).write_text(broken)
    done = composecheck(tmp_path / COMPOSE.name, credentials)
    assert done.returncode != 0 and "stop_grace_periode" in done.stderr


def test_make_compose_env_writes_a_dotenv_compose_reads(tmp_path: Path, credentials: dict[str, str]) -> None:
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)
    (tmp_path / ".env").write_text(dotenv(credentials))
    done = composecheck(tmp_path / COMPOSE.name, {})
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout)["services"]["worker"]["environment"]
    assert json.loads(worker["LEC_CHANNELS"]) == json.loads(credentials["LEC_CHANNELS"]), "JSON kept as it is"


def test_ports_are_published_on_loopback_only(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port}"


def test_every_mounted_file_is_in_the_repository(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).is_file(), f"{name} mounts a missing {volume['source']}"


def test_processes_reach_each_other_by_service_name(project: dict[str, Any]) -> None:
    services = project["services"]
    worker = services["worker"]["environment"]
    urls = [worker["LEC_LIVEENGAGE_DOMAIN_API"], worker["LEC_PUBLIC_WEBHOOK_URL"], worker["LEC_CHANNEL_BRIDGE_PUBLIC_URL"]]
    for channel in json.loads(worker["LEC_CHANNELS"]).values():
        urls.append(channel.get("outbound_url") or channel["api_url"])
    for url in urls:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        assert host in services, url
        assert str(port) in services[host]["command"], f"{host} listens on {port}"
    assert worker["LEC_KAFKA_BOOTSTRAP"] == "kafka:19092"
    assert "PLAINTEXT://kafka:19092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    channel_sandbox = services["channel-sandbox"]["command"]
    assert channel_sandbox[channel_sandbox.index("--bridge-url") + 1] == "http://channel-bridge:8081"
    for name in CONNECTOR_ROLES - {"liveengage-sandbox", "channel-sandbox", "console"}:
        assert services[name]["environment"]["LEC_CHANNELS"] == worker["LEC_CHANNELS"]
    console = services["console"]
    assert console["environment"]["LEC_CONSOLE_TOKEN"], "off loopback the console needs its token"
    for flag, service in (("--liveengage-url", "liveengage-sandbox"), ("--channel-url", "channel-sandbox")):
        url = urlsplit(console["command"][console["command"].index(flag) + 1])
        assert url.hostname == service and str(url.port) in services[service]["command"]


def test_prometheus_scrapes_every_process_and_loads_the_alert_rules(project: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    services = project["services"]
    mounts = {Path(v["target"]).name: Path(v["source"]) for v in services["prometheus"]["volumes"] if v["type"] == "bind"}
    for name, source in mounts.items():  # laid out as in the container, for promtool
        shutil.copy(source, tmp_path / name)
    promtool = prometheus.binary("promtool")
    assert promtool is not None
    done = subprocess.run([str(promtool), "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(mounts["prometheus.yml"].read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    worker_port = services["worker"]["environment"]["LEC_WEB_PORT"]
    expected = {f"worker:{worker_port}"} | {f"{bridge}:{services[bridge]['command'][-1]}"
                                            for bridge in ("channel-bridge", "webhook-bridge")}
    assert targets == expected


def test_grafana_has_the_dashboard_and_its_data_source(project: dict[str, Any]) -> None:
    grafana = project["services"]["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"]}
    (dashboard,) = [source for target, source in mounts.items() if target.endswith(".json")]
    assert dashboard == prometheus.DASHBOARD
    (provider,) = yaml.safe_load(mounts["/etc/grafana/provisioning/dashboards/lec.yaml"].read_text())["providers"]
    assert [t for t in mounts if t.endswith(".json")][0].startswith(provider["options"]["path"] + "/")
    (source,) = yaml.safe_load(mounts["/etc/grafana/provisioning/datasources/lec.yaml"].read_text())["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert urlsplit(source["url"]).hostname == "prometheus"
