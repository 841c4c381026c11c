"""deploy/monitoring: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), the dashboard is one Grafana loads and its queries are valid PromQL,
and everything both read is a metric some service defines.

promtool is built from the Prometheus module by `make provision` (deploy/local/stack.py);
under `make test` (SOP_REQUIRE_STACK) a missing binary is built, elsewhere its tests skip."""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from deploy.local import stack
from tests.monitoring import (
    ALERTS,
    ALERTS_TEST,
    PROMETHEUS_OWN,
    alert_rules,
    dashboard,
    dashboard_expressions,
    dashboard_panels,
    exported_series_names,
    metric_names_used,
)

# Every module that defines Prometheus metrics; a service's process imports its own.
METRIC_MODULES = (
    "shared.metrics",
    "services.assignment.metrics",
    "services.notify.metrics",
    "services.records.metrics",
    "services.reports.metrics",
)
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    cached = stack.cache_root() / "bin" / f"promtool-{stack.PROMETHEUS_VERSION}" / "promtool"
    if os.access(cached, os.X_OK):
        return cached
    if not os.environ.get("SOP_REQUIRE_STACK"):
        pytest.skip("promtool is not provisioned: `make provision` builds it")
    return stack.provision(("promtool",))["promtool"]


def run_promtool(promtool: Path, *args: str) -> str:
    done = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_alert_rules_pass_promtool_check(promtool: Path) -> None:
    out = run_promtool(promtool, "check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_the_alerts_fire_on_their_synthetic_series_and_stay_quiet_otherwise(
    promtool: Path,
) -> None:
    out = run_promtool(promtool, "test", "rules", str(ALERTS_TEST))
    assert "SUCCESS" in out


def test_every_dashboard_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    # promtool checks PromQL inside rule files: each query becomes a recording rule.
    rules = [
        {"record": f"sop_dashboard:{name}", "expr": expr}
        for name, expr in dashboard_expressions().items()
    ]
    checked = tmp_path / "dashboard-queries.yaml"
    checked.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_promtool(promtool, "check", "rules", str(checked))
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_each_alert_says_how_bad_it_is_what_it_means_and_what_to_do() -> None:
    tested = yaml.safe_load(ALERTS_TEST.read_text())
    tested_names = {
        case["alertname"]
        for test in tested["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for rule in alert_rules():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule["alert"] in tested_names, f"{rule['alert']} never fires in alerts_test.yaml"
    dead_letters = next(r for r in alert_rules() if r["alert"] == "SopDeadLetters")
    assert "make redrive TOPIC=" in dead_letters["annotations"]["runbook"]


def test_the_dashboard_is_one_grafana_loads() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"].strip()
    # The case pipeline at a glance: each of these is on the board.
    queried = " ".join(dashboard_expressions().values())
    for metric in (
        "sop_events_published_total",
        "sop_consumer_lag_messages",
        "sop_dead_letters_total",
        "sop_outbox_oldest_event_age_seconds",
        "sop_service_level_cases",
        "sop_reports_pdf_render_queue_depth",
        "sop_records_ingested_bytes_total",
        "sop_http_requests_total",
        "sop_http_request_duration_seconds_bucket",
    ):
        assert metric in queried, metric


def test_every_metric_the_rules_and_dashboard_read_is_defined_by_a_service() -> None:
    """In-process, from the registry the services' metric modules fill; the end-to-end test
    (tests/e2e/test_platform_starts.py) checks the same against the running services."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    exported = exported_series_names(generate_latest(REGISTRY).decode())
    missing = {
        name: sorted(where)
        for name, where in metric_names_used().items()
        if name not in exported and name not in PROMETHEUS_OWN
    }
    assert not missing, f"read by the rules or dashboard but exported by no service: {missing}"
