"""The alert rules and the Grafana dashboard, checked with Prometheus's own promtool (unpacked by ``make test``).

The alert rules pass ``promtool check rules`` and the unit tests of ``alert-rules.test.yaml`` (``promtool test
rules``); every dashboard query is valid PromQL; and both use only metrics the processes export. That every panel
returns data from a running stack is shown by ``tests/e2e/test_prometheus.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from devstack import prometheus
from devstack.dashboard import load_panels

HERE = Path(__file__).resolve().parent
RULES_TESTS = HERE / "alert-rules.test.yaml"
GRID_COLUMNS = 24


def promtool(*args: str, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    tool = prometheus.binary("promtool")
    assert tool is not None, "promtool is missing: make test unpacks it into .tools/prometheus"
    return subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def exported_metrics() -> set[str]:
    """The sample names the bridges and the worker expose."""
    from prometheus_client import REGISTRY

    import gateways.metrics  # noqa: F401 - registers the bridges' metrics
    import streams.metrics  # noqa: F401 - registers the worker's

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, ())}


def used_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b(lec_[a-z_]+)", expr))


def alert_rules() -> list[dict[str, object]]:
    return list(yaml.safe_load(prometheus.ALERT_RULES.read_text())["groups"][0]["rules"])


def test_alert_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(prometheus.ALERT_RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    done = promtool("test", "rules", RULES_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULES_TESTS.read_text()))
    assert tested == {str(rule["alert"]) for rule in alert_rules()}, "every alert has a unit test"


def test_alert_rule_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    # The same tests against a copy whose dead-letter alert misses new series: promtool must fail them.
    broken = prometheus.ALERT_RULES.read_text().replace(
        "\n            or sum by (topic, error_class) (lec_worker_dead_letters_total unless "
        "lec_worker_dead_letters_total offset 15m)", "")
    assert broken != prometheus.ALERT_RULES.read_text()
    (tmp_path / "rules.yaml").write_text(broken)
    tests = yaml.safe_load(RULES_TESTS.read_text()) | {"rule_files": ["rules.yaml"]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    done = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode != 0 and "LecDeadLetters" in done.stdout + done.stderr


def test_alert_rules_use_only_metrics_the_processes_export() -> None:
    exported = exported_metrics()
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {"LecBridgeSlowAcknowledgement", "LecBridgeServerErrors",
                                                 "LecDeadLetters", "LecSendApiErrors", "LecWorkerNoProgress",
                                                 "LecConsumerLag"}
    for rule in rules:
        used = used_metrics(str(rule["expr"]))
        assert used and used <= exported, f"{rule['alert']} uses {used - exported}"


def test_dashboard_is_a_grafana_dashboard_on_its_grid() -> None:
    dashboard = json.loads(prometheus.DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["id"] is None, "provisioned dashboards leave id to Grafana"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        x, y, w, h = (panel["gridPos"][k] for k in ("x", "y", "w", "h"))
        assert x + w <= GRID_COLUMNS, panel["title"]
        mine = {(col, row) for col in range(x, x + w) for row in range(y, y + h)}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    titles = " ".join(p["title"].lower() for p in panels)
    for subject in ("events in", "latency", "lag", "dead letters", "error", "outbound"):
        assert subject in titles, f"the overview shows {subject}"


def test_dashboard_queries_are_valid_promql_over_exported_metrics(tmp_path: Path) -> None:
    panels = load_panels(rate_interval="1m")
    # promtool parses each query as a recording rule's expression.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{index}:query{n}", "expr": query.expr}
        for index, panel in enumerate(panels) for n, query in enumerate(panel.queries)]}]}
    (tmp_path / "dashboard-rules.yaml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", "dashboard-rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = exported_metrics()
    for panel in panels:
        for query in panel.queries:
            used = used_metrics(query.expr)
            assert used and used <= exported, f"{panel.title} uses {used - exported}"
