"""What deploy/monitoring's alert rules and Grafana dashboard query, for the tests that check
them against promtool and against the metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERTS_TEST = MONITORING / "alerts_test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# Series Prometheus makes itself rather than scraping them from a service.
PROMETHEUS_OWN = frozenset({"up"})
_METRIC_NAME = re.compile(r"\b(sop_[a-z0-9_]+|up)\b(?!\s*\()")
_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_expressions() -> dict[str, str]:
    """`panel<id>_<refId>` to the PromQL of each dashboard query."""
    return {
        f"panel{panel['id']}_{target['refId']}": target["expr"]
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    }


def metric_names_used() -> dict[str, set[str]]:
    """Each series name the rules and the dashboard read, with where it is read."""
    used: dict[str, set[str]] = {}
    sources = [(rule["alert"], rule["expr"]) for rule in alert_rules()]
    sources += list(dashboard_expressions().items())
    for where, expr in sources:
        # Label values (`job=~"sop-.+"`) are not names: drop the quoted strings first.
        for name in _METRIC_NAME.findall(re.sub(r'"[^"]*"', '""', expr)):
            used.setdefault(name, set()).add(where)
    return used


def exported_series_names(exposition: str) -> set[str]:
    """The series names a /metrics text can hold, from its `# TYPE` lines: a labelled metric
    nobody has touched yet has no samples, but its TYPE line shows it exists."""
    names: set[str] = set()
    for family, kind in _TYPE_LINE.findall(exposition):
        base = family.removesuffix("_total") if kind == "counter" else family
        names.add(base)
        names.update(base + suffix for suffix in _SUFFIXES.get(kind, ()))
    return names
