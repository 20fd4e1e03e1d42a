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

from schemas import topics as catalogue

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "lec-connector"
HELM = ROOT / ".tools" / "helm"
VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))
KUBERNETES = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]
ROLES = {"channel-bridge", "webhook-bridge", "worker"}
SECRET_KEYS = {"LEC_CHANNELS", "LEC_LIVEENGAGE_ACCOUNTS", "LEC_ANALYTICS_KEY", "LEC_KAFKA_SASL_PASSWORD",
               "LEC_KAFKA_SSL_KEY_PASSWORD", "LEC_SCHEMA_REGISTRY_PASSWORD"}
OPTIONAL_SECRET_KEYS = SECRET_KEYS - {"LEC_CHANNELS", "LEC_LIVEENGAGE_ACCOUNTS"}
API_PREFIXES = {"channel-bridge": "/v1/channels", "webhook-bridge": "/v1/liveengage"}
WEBHOOK_URL = "config.publicWebhookUrl=https://hooks.example.com/v1/liveengage/webhooks"
OPERATOR_API = "monitoring.coreos.com/"
CUSTOM_APIS = (OPERATOR_API, "keda.sh/")
ALERT_RULES = CHART / "files" / "alert-rules.yaml"
DASHBOARD = CHART / "files" / "dashboard-overview.json"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "helm is missing: make test builds it into .tools/"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)


def render(values: Path | None = None, *sets: str, kube: str = "1.33.0", release: str = "t") -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--kube-version", kube]
    if values is not None:
        args += ["-f", str(values)]
    for assignment in sets:
        args += ["--set", assignment]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def worker_settings(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The worker's container, its plain environment, and the connector's ConfigMap data it also reads."""
    (worker,) = by_kind(docs, "StatefulSet")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    (config,) = [c for c in by_kind(docs, "ConfigMap") if "dashboard" not in c["metadata"]["name"]]
    return container, {e["name"]: e.get("value") for e in container["env"]}, config["data"]


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each role's pod template (the bridges, the worker, the registration Job), by component label."""
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet") + by_kind(docs, "Job")
    return {w["metadata"]["labels"]["app.kubernetes.io/component"]: w["spec"]["template"] for w in workloads}


def refusal(*sets: str, values: Path = CHART / "ci" / "minimal.yaml") -> str:
    """helm's error for values it must refuse."""
    args = ["template", "t", str(CHART), "--kube-version", "1.33.0", "-f", str(values)]
    for assignment in sets:
        args += ["--set", assignment]
    done = helm(*args)
    assert done.returncode != 0, "rendered values it should refuse"
    return done.stderr


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
    pod_labels = {role: template["metadata"]["labels"] for role, template in pod_templates(docs).items()}
    for selecting in by_kind(docs, "PodDisruptionBudget") + by_kind(docs, "Service") + by_kind(docs, "NetworkPolicy"):
        selector = selecting["spec"].get("selector", selecting["spec"].get("podSelector", {}))
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
    for template in pod_templates(docs).values():
        (container,) = template["spec"]["containers"]
        from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert set(from_secret) == SECRET_KEYS
        assert {ref["name"] for ref in from_secret.values()} == {secret_name}
        assert all(ref["key"] == name for name, ref in from_secret.items())
        assert {name for name, ref in from_secret.items() if ref.get("optional")} == OPTIONAL_SECRET_KEYS
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        assert template["spec"]["automountServiceAccountToken"] is False, "no process calls the Kubernetes API"


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
    docs = render(VALUE_SETS[0])
    (worker,) = by_kind(docs, "StatefulSet")
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    container, env, config = worker_settings(docs)
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"] and claim["metadata"]["name"] == "data"
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert env["LEC_STORE"] == "rocksdb" and config["LEC_DATA_DIR"] == "/data"  # the store is on the volume
    assert env["LEC_STANDBY_REPLICAS"] == "1"  # each worker keeps a copy of another's tables


# A RocksDB worker's resident memory once ready, whatever its state (make bench's state stage; README, "Scaling").
WORKER_BASE_MIB = 128


@pytest.mark.parametrize("values", VALUE_SETS, ids=[p.stem for p in VALUE_SETS])
def test_rocksdb_memory_of_a_worker_holding_every_partition_fits_its_limit(values: Path) -> None:
    """Each table partition's database may hold its block cache and two write buffers; a worker alone (or one
    keeping standby copies of the others) holds every partition of the eight tables."""
    container, env, config = worker_settings(render(values))
    databases = len(catalogue.TABLES) * int(config["LEC_PARTITIONS"])
    per_database = int(env["LEC_ROCKSDB_BLOCK_CACHE_MIB"]) + 2 * int(env["LEC_ROCKSDB_WRITE_BUFFER_MIB"])
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") or limit.endswith("Mi")
    limit_mib = int(limit[:-2]) * (1024 if limit.endswith("Gi") else 1)
    assert WORKER_BASE_MIB + databases * per_database <= limit_mib


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
    "extraEnv[0].name=LEC_KAFKA_SASL_PASSWORD,extraEnv[0].value=inline-secret",
    "kafka.sasl.password=inline-secret",  # the Secret's LEC_KAFKA_SASL_PASSWORD
    "kafka.securityProtocol=TLS",
    "kafka.securityProtocol=SASL_SSL",  # SASL needs a mechanism
    "kafka.sasl.mechanism=PLAIN",  # a mechanism without SASL
    "kafka.securityProtocol=SASL_SSL,kafka.sasl.mechanism=SCRAM-SHA-512",  # no username
    "kafka.securityProtocol=SASL_SSL,kafka.sasl.mechanism=OAUTHBEARER",  # no token provider
    "kafka.securityProtocol=SASL_SSL,kafka.sasl.mechanism=GSSAPI,kafka.sasl.username=u",
    "kafka.tls.caFile=/etc/kafka-tls/ca.crt",  # PEM files without TLS
    "kafka.securityProtocol=SSL,kafka.tls.certFile=/etc/kafka-tls/tls.crt",  # a certificate without its key
    "kafka.securityProtocol=SSL,kafka.tls.caFile=ca.crt",  # a path relative to what?
    "kafka.topics=skip",
    "kafka.replicationFactor=0",
    "config.publicWebhookUrl=http://hooks.example.com/v1/liveengage/webhooks",  # LiveEngage calls HTTPS only
    "channelBridge.ingress.hosts[0].host=sms.example.com,channelBridge.ingress.hosts[0].paths[0]=/",
    "channelBridge.ingress.hosts[0].host=sms.example.com,channelBridge.ingress.hosts[0].paths[0]=/metrics",
    "webhookBridge.ingress.hosts[0].host=hooks.example.com,webhookBridge.ingress.hosts[0].paths[0]=/v1/channels",
    "podLabels.app\\.kubernetes\\.io/component=worker",  # the selector labels are the chart's
    "networkPolicy.egress.allowAll=maybe",
    "extraVolumes[0].name=tmp,extraVolumes[0].emptyDir.medium=Memory",  # the chart's own volume
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


def test_schema_or_templates_refuse_more_in_sync_replicas_than_replicas() -> None:
    assert "above kafka.replicationFactor" in refusal("kafka.replicationFactor=2", "kafka.minInsyncReplicas=3")
    render(CHART / "ci" / "minimal.yaml", "kafka.replicationFactor=1", "kafka.minInsyncReplicas=1")  # the local stack's


def test_ingress_routes_only_the_api_with_tls() -> None:
    """/metrics, /livez and /readyz stay in the cluster: only each bridge's API prefix is routed, over TLS."""
    assert not by_kind(render(CHART / "ci" / "minimal.yaml"), "Ingress")
    docs = render(CHART / "ci" / "full.yaml")
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    ingresses = by_kind(docs, "Ingress")
    assert {i["metadata"]["labels"]["app.kubernetes.io/component"] for i in ingresses} == set(API_PREFIXES)
    for ingress in ingresses:
        prefix = API_PREFIXES[ingress["metadata"]["labels"]["app.kubernetes.io/component"]]
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
        tls_hosts = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in tls_hosts, "LiveEngage calls webhooks over HTTPS only"
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                assert path["path"] == prefix or path["path"].startswith(prefix + "/")
                assert "metrics" not in path["path"] and path["path"] != "/"
                backend = path["backend"]["service"]
                assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert services[backend["name"]]["metadata"]["labels"] == ingress["metadata"]["labels"]
    # hosts without paths get the API prefix, never a catch-all
    docs = render(CHART / "ci" / "minimal.yaml", "channelBridge.ingress.enabled=true",
                  "channelBridge.ingress.hosts[0].host=sms.example.com")
    (ingress,) = by_kind(docs, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert [p["path"] for p in rule["http"]["paths"]] == ["/v1/channels"]
    assert "an Ingress needs at least one host" in refusal("webhookBridge.ingress.enabled=true")


@pytest.mark.parametrize("values, expected", [
    ("sasl-scram", {"LEC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                    "LEC_KAFKA_SASL_USERNAME": "lec-connector", "LEC_KAFKA_SSL_CA_FILE": "/etc/kafka-tls/ca.crt",
                    "LEC_KAFKA_SSL_CHECK_HOSTNAME": "true"}),
    ("mtls", {"LEC_KAFKA_SECURITY_PROTOCOL": "SSL", "LEC_KAFKA_SSL_CA_FILE": "/etc/kafka-tls/ca.crt",
              "LEC_KAFKA_SSL_CERT_FILE": "/etc/kafka-tls/tls.crt", "LEC_KAFKA_SSL_KEY_FILE": "/etc/kafka-tls/tls.key",
              "LEC_KAFKA_TOPICS": "check"}),
    ("oauthbearer", {"LEC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEC_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
                     "LEC_KAFKA_SASL_OAUTH_TOKEN_PROVIDER": "brand_kafka.msk:IAMTokenProvider"}),
    ("minimal", {"LEC_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "LEC_KAFKA_REPLICATION_FACTOR": "3",
                 "LEC_KAFKA_MIN_INSYNC_REPLICAS": "2", "LEC_KAFKA_TOPICS": "create"}),
])
def test_kafka_settings_reach_every_process(values: str, expected: dict[str, str]) -> None:
    from telemetry.startup import CONNECTOR_SETTINGS

    docs = render(CHART / "ci" / f"{values}.yaml", "registerWebhooks.enabled=true", WEBHOOK_URL)
    (config,) = [c for c in by_kind(docs, "ConfigMap") if "LEC_KAFKA_BOOTSTRAP" in c["data"]]
    assert expected.items() <= config["data"].items()
    assert set(config["data"]) <= CONNECTOR_SETTINGS, "a variable no process reads"
    assert not [key for key in config["data"] if "PASSWORD" in key]
    if config["data"]["LEC_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT":  # only what is set: no TLS/SASL leftovers
        assert not [key for key in config["data"] if key.startswith(("LEC_KAFKA_SASL_", "LEC_KAFKA_SSL_"))]
    templates = pod_templates(docs)
    assert set(templates) == ROLES | {"register-webhooks"}
    for template in templates.values():
        (container,) = template["spec"]["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        names = [e["name"] for e in container["env"]]
        assert len(names) == len(set(names))
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        for secret in ("LEC_KAFKA_SASL_PASSWORD", "LEC_KAFKA_SSL_KEY_PASSWORD"):
            assert refs[secret]["key"] == secret and refs[secret]["optional"] is True
        # every PEM file is inside a volume mounted in the container
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        for key in ("LEC_KAFKA_SSL_CA_FILE", "LEC_KAFKA_SSL_CERT_FILE", "LEC_KAFKA_SSL_KEY_FILE"):
            if key in config["data"]:
                assert any(config["data"][key].startswith(mount + "/") for mount in mounts), key


def test_schema_registry_settings_reach_every_process_and_its_password_comes_from_the_secret() -> None:
    from telemetry.startup import CONNECTOR_SETTINGS

    docs = render(CHART / "ci" / "mtls.yaml", "registerWebhooks.enabled=true", WEBHOOK_URL,
                  "schemaRegistry.url=https://registry.example.com/apis/ccompat/v7",
                  "schemaRegistry.username=lec-connector", "schemaRegistry.caFile=/etc/kafka-tls/ca.crt")
    (config,) = [c for c in by_kind(docs, "ConfigMap") if "LEC_KAFKA_BOOTSTRAP" in c["data"]]
    assert {"LEC_SCHEMA_REGISTRY_URL": "https://registry.example.com/apis/ccompat/v7",
            "LEC_SCHEMA_REGISTRY_USERNAME": "lec-connector",
            "LEC_SCHEMA_REGISTRY_CA_FILE": "/etc/kafka-tls/ca.crt"}.items() <= config["data"].items()
    assert set(config["data"]) <= CONNECTOR_SETTINGS and "LEC_WIRE_FORMAT" not in config["data"]
    for template in pod_templates(docs).values():
        (container,) = template["spec"]["containers"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert refs["LEC_SCHEMA_REGISTRY_PASSWORD"] == {"name": "lec-credentials", "key": "LEC_SCHEMA_REGISTRY_PASSWORD",
                                                         "optional": True}
    minimal = render(CHART / "ci" / "minimal.yaml")
    (config,) = [c for c in by_kind(minimal, "ConfigMap") if "LEC_KAFKA_BOOTSTRAP" in c["data"]]
    assert not [key for key in config["data"] if "SCHEMA_REGISTRY" in key or key == "LEC_WIRE_FORMAT"]
    assert "schemaRegistry" in refusal("schemaRegistry.wireFormat=avro")


def test_extra_volumes_are_mounted_in_every_container() -> None:
    docs = render(CHART / "ci" / "mtls.yaml", "registerWebhooks.enabled=true", WEBHOOK_URL)
    templates = pod_templates(docs)
    assert set(templates) == ROLES | {"register-webhooks"}
    for role, template in templates.items():
        (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "kafka-tls"]
        assert volume["secret"]["secretName"] == "lec-kafka-client-tls"
        for container in template["spec"]["containers"]:
            assert {"name": "kafka-tls", "mountPath": "/etc/kafka-tls", "readOnly": True} in container["volumeMounts"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], role


def test_pods_roll_when_their_configuration_changes() -> None:
    minimal = CHART / "ci" / "minimal.yaml"

    def annotations(*sets: str) -> dict[str, dict[str, str]]:
        templates = pod_templates(render(minimal, *sets))
        return {role: templates[role]["metadata"].get("annotations", {}) for role in ROLES}

    before, again = annotations(), annotations()
    assert before == again, "the same values roll nothing"
    for changed in (annotations("kafka.topics=check"), annotations("config.logLevel=debug")):
        for role in ROLES:
            assert changed[role]["checksum/config"] != before[role]["checksum/config"], role
    assert not [role for role in ROLES if "checksum/secret" in before[role]]
    bumped = annotations("secretChecksum=2")
    assert {bumped[role]["checksum/secret"] for role in ROLES} == {"2"}
    assert {bumped[role]["checksum/config"] for role in ROLES} == {before[role]["checksum/config"] for role in ROLES}


def test_webhook_registration_is_a_hook_job_with_the_workers_environment() -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    assert not by_kind(render(minimal), "Job")
    assert "needs config.publicWebhookUrl" in refusal("registerWebhooks.enabled=true")
    docs = render(minimal, "registerWebhooks.enabled=true", "registerWebhooks.backoffLimit=2", WEBHOOK_URL)
    (job,) = by_kind(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    assert job["spec"]["backoffLimit"] == 2
    (settings,) = [c for c in by_kind(docs, "ConfigMap") if "LEC_KAFKA_BOOTSTRAP" in c["data"]]
    assert settings["data"]["LEC_PUBLIC_WEBHOOK_URL"] == WEBHOOK_URL.split("=", 1)[1]
    (worker,) = by_kind(docs, "StatefulSet")
    pod, worker_pod = job["spec"]["template"]["spec"], worker["spec"]["template"]["spec"]
    (container,), (worker_container,) = pod["containers"], worker_pod["containers"]
    assert container["command"] == ["python", "-m", "streams", "register-webhooks"]
    assert container["image"] == worker_container["image"]
    assert (container["env"], container["envFrom"]) == (worker_container["env"], worker_container["envFrom"])
    assert container["securityContext"] == worker_container["securityContext"]
    assert pod["securityContext"] == worker_pod["securityContext"]
    assert pod["serviceAccountName"] == worker_pod["serviceAccountName"]
    assert pod["restartPolicy"] == "Never"
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/data"}, "a read-only root file system"


def test_network_policies_only_when_enabled() -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    assert not by_kind(render(minimal), "NetworkPolicy")
    docs = render(minimal, "networkPolicy.enabled=true")
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p["spec"]
                for p in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == ROLES
    for role, policy in policies.items():
        assert policy["egress"] == [{}], "egress is open unless listed"
        (rule,) = policy["ingress"]
        assert rule["ports"] == [{"port": "web" if role == "worker" else "http", "protocol": "TCP"}]
    for bridge in ("channel-bridge", "webhook-bridge"):
        assert "from" not in policies[bridge]["ingress"][0], "callers from anywhere by default"
    assert policies["worker"]["ingress"][0]["from"], "the worker takes scrapes only"
    # no scrapers: the worker takes nothing at all
    docs = render(minimal, "networkPolicy.enabled=true", "networkPolicy.metricsFrom=null")
    (worker,) = [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-worker")]
    assert worker["spec"]["ingress"] == []
    # listed callers and egress (ci/full.yaml): the scrapers join each bridge's callers, DNS stays open
    docs = render(CHART / "ci" / "full.yaml")
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p["spec"]
                for p in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == ROLES | {"register-webhooks"}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ingress_nginx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    assert policies["webhook-bridge"]["ingress"][0]["from"] == [ingress_nginx, monitoring]
    assert policies["worker"]["ingress"][0]["from"] == [monitoring]
    assert policies["register-webhooks"]["ingress"] == []
    for policy in policies.values():
        assert {"port": 53, "protocol": "UDP"} in policy["egress"][0]["ports"]
        assert any(rule.get("ports") == [{"port": 9093, "protocol": "TCP"}] for rule in policy["egress"])


def test_service_account_only_when_created_and_used_by_every_pod() -> None:
    minimal = CHART / "ci" / "minimal.yaml"
    (account,) = by_kind(render(minimal), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for sets, expected in ((("serviceAccount.create=false",), "default"),
                           (("serviceAccount.create=false", "serviceAccount.name=platform-made"), "platform-made")):
        docs = render(minimal, *sets)
        assert not by_kind(docs, "ServiceAccount")
        assert {t["spec"]["serviceAccountName"] for t in pod_templates(docs).values()} == {expected}
    docs = render(CHART / "ci" / "oauthbearer.yaml", "registerWebhooks.enabled=true", WEBHOOK_URL)
    (account,) = by_kind(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    templates = pod_templates(docs)
    assert set(templates) == ROLES | {"register-webhooks"}
    assert {t["spec"]["serviceAccountName"] for t in templates.values()} == {account["metadata"]["name"]}


def test_pod_labels_annotations_spread_and_priority() -> None:
    templates = pod_templates(render(CHART / "ci" / "full.yaml"))
    for role, template in templates.items():
        labels, spec = template["metadata"]["labels"], template["spec"]
        assert labels["app.kubernetes.io/component"] == role and labels["example.com/cost-center"] == "cx"
        assert ("example.com/exposed" in labels) == (role == "webhook-bridge"), "a role's own labels are its own"
        assert template["metadata"]["annotations"]["example.com/team"] == "messaging"
        assert spec["priorityClassName"] == ("connectors-critical" if role == "worker" else "connectors")
        if role == "register-webhooks":
            assert "topologySpreadConstraints" not in spec, "one pod: nothing to spread"
            continue
        (constraint,) = spec["topologySpreadConstraints"]
        assert constraint["topologyKey"] == ("kubernetes.io/hostname" if role == "worker"
                                             else "topology.kubernetes.io/zone")
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == role and selector.items() <= labels.items()


def test_keda_needs_its_own_kafka_credentials_on_a_secured_kafka() -> None:
    assert "worker.keda.authenticationRef" in refusal("worker.keda.authenticationRef=",
                                                      values=CHART / "ci" / "mtls.yaml")


def test_no_pod_gets_service_link_variables() -> None:
    """Kubernetes would name them after the release's Services (LEC_..._SERVICE_HOST for a release "lec")."""
    pods = [doc["spec"]["template"]["spec"] for doc in render(CHART / "ci" / "full.yaml")
            if doc["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert pods and all(pod["enableServiceLinks"] is False for pod in pods)


def test_an_upgrade_can_roll_the_worker_first_and_bridges_drain_before_stopping() -> None:
    """README, "Upgrades": worker.imageTag moves the worker (the readers) alone; each bridge keeps serving for its
    preStopSleepSeconds while the Service's endpoints update, then stops gracefully."""
    docs = render(CHART / "ci" / "minimal.yaml", "image.tag=1.0.0", "worker.imageTag=1.1.0",
                  "webhookBridge.preStopSleepSeconds=0")
    containers = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]["containers"][0]
                  for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    assert {role: c["image"].rsplit(":", 1)[1] for role, c in containers.items()} == {
        "channel-bridge": "1.0.0", "webhook-bridge": "1.0.0", "worker": "1.1.0"}
    assert containers["channel-bridge"]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert "lifecycle" not in containers["webhook-bridge"]
    assert "preStopSleepSeconds" in refusal("channelBridge.preStopSleepSeconds=60")  # past the grace period
