"""The runbooks (``docs/runbooks/``): one per alert, linked from its rule, and nothing in them that does not exist.

Every shell command is checked against what it names: ``python -m streams`` lines parse with the worker's own
parser; ``kubectl`` names resources and labels the chart renders (release ``lec``, as the README installs it);
``helm --set`` names values the chart has; Kafka's tools accept the options given (their ``--help``, from the
same Kafka release the tests run). Every Prometheus query passes ``promtool`` and uses exported metrics, and every
panel named in bold is a panel of the overview dashboard.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import prometheus
from devstack.broker import ensure_tools
from devstack.dashboard import load_panels
from streams.__main__ import build_parser
from streams.settings import WorkerSettings
from tests.deploy.test_helm_chart import CHART, DASHBOARD, render
from tests.deploy.test_monitoring import alert_rules, exported_metrics, promtool, used_metrics

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = CHART / "ci" / "minimal.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("## What it means", "## Check first", "## Fix", "## Confirm")
KAFKA_TOOLS = {"kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
               "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"}
PLACEHOLDERS = {"BOOTSTRAP", "client.properties"}  # the reader's own Kafka address and admin settings


def pages() -> dict[str, str]:
    """Every runbook: one per alert (named after it), and the procedures (secret rotation)."""
    return {path.stem: path.read_text() for path in sorted(RUNBOOKS.glob("*.md")) if path.name != "README.md"}


def blocks(language: str) -> list[tuple[str, str]]:
    """(page, line) of every line of the fenced blocks in ``language``."""
    return [(name, line.strip()) for name, text in pages().items()
            for block in re.findall(rf"```{language}\n(.*?)```", text, re.S)
            for line in block.splitlines() if line.strip() and not line.startswith("#")]


def commands() -> list[tuple[str, list[str]]]:
    return [(name, shlex.split(line)) for name, line in blocks("sh")]


def test_every_alert_has_a_runbook_linked_from_its_rule() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    alerts = {str(rule["alert"]): rule for rule in alert_rules()}
    assert {name for name in pages() if name.startswith("Lec")} == set(alerts), "one page per alert, named after it"
    assert all(f"[{name}.md]({name}.md)" in index for name in pages())
    for name, rule in alerts.items():
        annotations: Any = rule["annotations"]
        assert annotations["runbook_url"] == f"docs/runbooks/{name}.md"
        assert f"[{name}.md]({name}.md)" in index
        assert pages()[name].startswith(f"# {name}\n")
    for name, text in pages().items():
        positions = [text.find(section) for section in SECTIONS]
        assert -1 not in positions and positions == sorted(positions), f"{name}: {SECTIONS} in this order"


def test_the_chart_can_point_the_links_at_published_runbooks() -> None:
    docs = render(MINIMAL, "metrics.prometheusRule.enabled=true",
                  "metrics.prometheusRule.runbookBaseUrl=https://wiki.example/lec/runbooks")
    rule = next(doc for doc in docs if doc["kind"] == "PrometheusRule")
    urls = {r["alert"]: r["annotations"]["runbook_url"] for r in rule["spec"]["groups"][0]["rules"]}
    assert urls == {str(r["alert"]): f"https://wiki.example/lec/runbooks/{r['alert']}.md" for r in alert_rules()}
    plain = next(doc for doc in render(MINIMAL, "metrics.prometheusRule.enabled=true") if doc["kind"] == "PrometheusRule")
    assert plain["spec"]["groups"][0]["rules"][0]["annotations"]["runbook_url"].startswith("docs/runbooks/")


def inner_command(argv: list[str]) -> list[str] | None:
    return argv[argv.index("--") + 1:] if "--" in argv else None


def test_python_commands_parse_with_the_worker_parser() -> None:
    lines = [inner_command(argv) or argv for _, argv in commands()]
    found = [argv for argv in lines if argv[:3] == ["python", "-m", "streams"]]
    assert found, "the runbooks use the worker's tools"
    assert all(argv[0] != "python" or argv[:3] == ["python", "-m", "streams"] for argv in lines)
    parser = build_parser()
    for argv in found:
        parser.parse_args(argv[3:])  # SystemExit (a failed test) on a wrong command or option


def test_kubectl_names_what_the_chart_deploys() -> None:
    docs = render(MINIMAL, release="lec")
    names = {f"{doc['kind'].lower()}/{doc['metadata']['name']}" for doc in docs}
    components = {doc["metadata"]["labels"].get("app.kubernetes.io/component") for doc in docs}
    checked = 0
    for page, argv in commands():
        if argv[0] != "kubectl":
            continue
        outer = argv[:argv.index("--")] if "--" in argv else argv
        for word in outer[2:]:
            if word.startswith("app.kubernetes.io/component="):
                assert word.split("=", 1)[1] in components, f"{page}: no pod has {word}"
                checked += 1
            elif "/" in word:
                assert word in names, f"{page}: {word} is not a resource of the chart"
                checked += 1
    assert checked >= 20


def value_paths(values: Any, prefix: str = "") -> set[str]:
    if not isinstance(values, dict):
        return {prefix}
    return {prefix} | {path for key, value in values.items() for path in value_paths(value, f"{prefix}{key}.")} | {
        f"{prefix}{key}" for key in values}


def test_helm_commands_set_values_the_chart_has() -> None:
    known = value_paths(yaml.safe_load((CHART / "values.yaml").read_text()))
    sets = [argv[argv.index("--set") + 1].split("=", 1)[0] for _, argv in commands()
            if argv[0] == "helm" and "--set" in argv]
    assert sets
    assert all(path in known for path in sets), sets
    # And the values the pages name in backquotes.
    for page, text in pages().items():
        for path in re.findall(r"`((?:worker|channelBridge|webhookBridge|metrics)\.[A-Za-z.]+|secretChecksum|"
                               r"existingSecret)`", text):
            assert path in known, f"{page}: {path} is not a value of the chart"


@pytest.fixture(scope="module")
def kafka_help() -> dict[str, str]:
    tools = ensure_tools()
    texts = {}
    for script, main_class in KAFKA_TOOLS.items():
        done = subprocess.run(["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{tools}/*", main_class,
                               "--help"], capture_output=True, text=True, timeout=120)
        texts[script] = done.stdout + done.stderr
        assert "--bootstrap-server" in texts[script], texts[script]
    return texts


def test_kafka_tools_accept_the_options_given(kafka_help: dict[str, str]) -> None:
    used = [(page, argv) for page, argv in commands() if argv[0].startswith("kafka-")]
    assert used
    for page, argv in used:
        assert argv[0] in KAFKA_TOOLS, f"{page}: {argv[0]} is not checked"
        for word in argv[1:]:
            if word.startswith("--"):
                assert re.search(rf"^\s*{re.escape(word)}\b", kafka_help[argv[0]], re.M), f"{page}: {word}"
            elif word not in PLACEHOLDERS:
                assert word == WorkerSettings.model_fields["app_id"].default, f"{page}: {word}"  # the group


def test_queries_are_promql_of_exported_metrics(tmp_path: Path) -> None:
    queries = blocks("promql")
    assert len(queries) >= 10
    rules = {"groups": [{"name": "runbooks", "rules": [{"record": f"runbook:query{index}", "expr": query}
                                                       for index, (_, query) in enumerate(queries)]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = exported_metrics() | {"lec_worker_consumer_lag", "lec_worker_records_in_flight"}
    for page, query in queries:
        assert used_metrics(query) <= exported, f"{page}: {used_metrics(query) - exported}"
    inline = {metric for text in pages().values() for metric in used_metrics(text)}
    assert inline <= exported


def test_panels_named_are_on_the_dashboard() -> None:
    titles = {panel.title for panel in load_panels("1m", DASHBOARD)}
    named = {(page, " ".join(title.split())) for page, text in pages().items()  # a title may wrap in the page
             for title in re.findall(r"\*\*([^*]+)\*\*", text)}
    assert len(named) >= 8
    assert all(title in titles for _, title in named), {t for _, t in named if t not in titles}
