"""The Helm chart (``helm/lec-connector``): it lints, renders valid Kubernetes 1.29-1.33 manifests for every value
set in its ``ci/`` folder, wires each role the way the processes need, and its schema refuses bad values.

helm is built by ``make test`` (``.tools/helm``); the manifests are checked with kubernetes-validate's bundled
schemas, offline.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "lec-connector"
HELM = ROOT / ".tools" / "helm"
VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))
KUBERNETES = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]
ROLES = {"channel-bridge", "webhook-bridge", "worker"}
SECRET_KEYS = {"LEC_CHANNELS", "LEC_LIVEENGAGE_ACCOUNTS", "LEC_ANALYTICS_KEY"}
OPERATOR_API = "monitoring.coreos.com/"
CUSTOM_APIS = (OPERATOR_API, "keda.sh/")
ALERT_RULES = CHART / "files" / "alert-rules.yaml"
DASHBOARD = CHART / "files" / "dashboard-overview.json"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "helm is missing: make test builds it into .tools/"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)


def render(values: Path | None = None, *sets: str, kube: str = "1.33.0") -> list[dict[str, Any]]:
    args = ["template", "t", str(CHART), "--kube-version", kube]
    if values is not None:
        args += ["-f", str(values)]
    for assignment in sets:
        args += ["--set", assignment]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_value_sets_exist() -> None:
    assert {path.stem for path in VALUE_SETS} >= {"minimal", "full"}


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
@pytest.mark.parametrize("kube", ["1.29.0", "1.33.0"])
def test_lints_strictly(values: Path, kube: str) -> None:
    done = helm("lint", "--strict", "--kube-version", kube, str(CHART), "-f", str(values))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
@pytest.mark.parametrize("kube", KUBERNETES)
def test_rendered_manifests_are_valid_kubernetes(values: Path, kube: str) -> None:
    docs = render(values, kube=kube)
    for doc in docs:
        if doc["apiVersion"].startswith(CUSTOM_APIS):
            continue  # the Prometheus Operator's and KEDA's kinds have no bundled schema: checked below
        kubernetes_validate.validate(doc, kube, strict=True)  # raises on any schema violation


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_each_role_selects_its_own_pods(values: Path) -> None:
    docs = render(values)
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"] for w in workloads} == ROLES
    for workload in workloads:
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    pod_labels = {w["metadata"]["labels"]["app.kubernetes.io/component"]: w["spec"]["template"]["metadata"]["labels"]
                  for w in workloads}
    for selecting in by_kind(docs, "PodDisruptionBudget") + by_kind(docs, "Service"):
        selector = selecting["spec"].get("selector", {})
        selector = selector.get("matchLabels", selector)
        matched = [role for role, labels in pod_labels.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"{selecting['kind']} {selecting['metadata']['name']} selects {matched}"


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda path: path.stem)
def test_secrets_come_only_from_the_named_secret(values: Path) -> None:
    docs = render(values)
    secret_name = yaml.safe_load(values.read_text())["existingSecret"]
    assert not by_kind(docs, "Secret"), "the chart must not create secrets from values"
    for config in by_kind(docs, "ConfigMap"):
        assert not SECRET_KEYS & set(config["data"])
    for workload in by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet"):
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert set(from_secret) == SECRET_KEYS
        assert {ref["name"] for ref in from_secret.values()} == {secret_name}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_every_process_is_ready_only_through_its_readiness_endpoint() -> None:
    docs = render(VALUE_SETS[0])
    for deployment in by_kind(docs, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["command"][:3] == ["python", "-m", "gateways"]
    (worker,) = by_kind(docs, "StatefulSet")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 60
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LEC_WEB_HOST"] == "0.0.0.0" and int(env["LEC_WEB_PORT"]) == container["ports"][0]["containerPort"]


def test_worker_keeps_its_state_on_a_volume_of_its_own() -> None:
    (worker,) = by_kind(render(VALUE_SETS[0]), "StatefulSet")
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"] and claim["metadata"]["name"] == "data"
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_autoscaling_replaces_fixed_replicas() -> None:
    minimal = VALUE_SETS[[p.stem for p in VALUE_SETS].index("minimal")]
    assert not by_kind(render(minimal), "HorizontalPodAutoscaler")
    docs = render(minimal, "channelBridge.autoscaling.enabled=true")
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]["name"]
    (scaled,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == target]
    assert "replicas" not in scaled["spec"] and target.endswith("channel-bridge")


@pytest.mark.parametrize("bad", [
    "image.repository=",  # no image
    "kafka.bootstrap=kafka",  # no port
    "existingSecret=",  # no credentials
    "channelBridge.replicas=0",
    "config.logLevel=verbose",
    "extraEnv[0].name=LEC_CHANNELS,extraEnv[0].value=inline-secret",  # secrets belong in the Secret
    "webhookBridge.prot=8080",  # a typo is refused, not ignored
    "webhookBridge.produceTimeoutSeconds=5",  # LiveEngage wants the webhook answered within 2.5 s
    "extraEnv[0].name=LEC_PRODUCE_TIMEOUT_S,extraEnv[0].value=30",  # per role: <role>.produceTimeoutSeconds
])
def test_schema_refuses_bad_values(bad: str) -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    done = helm("template", "t", str(CHART), "--kube-version", "1.33.0", "-f", str(minimal), "--set", bad)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr


def test_monitoring_objects_only_when_asked_for() -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    assert not [d for d in render(minimal) if d["apiVersion"].startswith(OPERATOR_API)]
    docs = render(minimal, "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true")
    monitors, (rule,) = by_kind(docs, "ServiceMonitor"), by_kind(docs, "PrometheusRule")
    services = by_kind(docs, "Service")
    assert len(monitors) == 3
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert rule["spec"] == yaml.safe_load(ALERT_RULES.read_text())


def test_dashboard_configmap_only_when_asked_for() -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    assert not [d for d in by_kind(render(minimal), "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    docs = render(minimal, "metrics.grafanaDashboard.enabled=true")
    (dashboard,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["lec-connector-overview.json"]) == json.loads(DASHBOARD.read_text())


def test_keda_scales_the_workers_on_lag_instead_of_a_replica_count() -> None:
    keda = CHART / "ci" / "keda.yaml"
    assert not by_kind(render(CHART / "ci" / "minimal.yaml"), "ScaledObject")
    docs = render(keda)
    (scaled,) = by_kind(docs, "ScaledObject")
    (worker,) = by_kind(docs, "StatefulSet")
    assert "replicas" not in worker["spec"], "KEDA's HPA owns the replica count"
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                "name": worker["metadata"]["name"]}
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka" and trigger["authenticationRef"] == {"name": "kafka-sasl"}
    (settings,) = [c for c in by_kind(docs, "ConfigMap") if "LEC_APP_ID" in c["data"]]
    assert trigger["metadata"]["consumerGroup"] == settings["data"]["LEC_APP_ID"], "the Faust app id is the group"
    assert not [h for h in by_kind(docs, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"], "never an HPA beside KEDA's"


def test_keda_refuses_more_workers_than_partitions() -> None:
    done = helm("template", "t", str(CHART), "--kube-version", "1.33.0", "-f", str(CHART / "ci" / "keda.yaml"),
                "--set", "worker.keda.maxReplicas=9")
    assert done.returncode != 0 and "above config.partitions" in done.stderr


def test_each_role_has_its_own_produce_timeout_and_settings() -> None:
    """The webhook bridge answers LiveEngage within 2.5 s; the worker may wait much longer for Kafka."""
    docs = render(CHART / "ci" / "full.yaml", "webhookBridge.extraEnv[0].name=LEC_ACCOUNT_RATE",
                  "webhookBridge.extraEnv[0].value=fifty")

    def env_of(name: str) -> dict[str, str]:
        (doc,) = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"].endswith(name)]
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value") for e in container["env"]}

    channel, webhook, worker = env_of("channel-bridge"), env_of("webhook-bridge"), env_of("worker")
    assert (channel["LEC_PRODUCE_TIMEOUT_S"], webhook["LEC_PRODUCE_TIMEOUT_S"], worker["LEC_PRODUCE_TIMEOUT_S"]) \
        == ("5", "2", "45")
    assert webhook["LEC_ACCOUNT_RATE"] == "fifty" and "LEC_ACCOUNT_RATE" not in channel and "LEC_ACCOUNT_RATE" not in worker
