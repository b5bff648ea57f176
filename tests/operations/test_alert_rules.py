"""The alert rules and the dashboard: valid, unit-tested, and reading only metrics
the code exports (a renamed metric must not silence an alert)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.gateway import metrics as gateway_metrics
from shared.metrics import METRIC_NAMES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "helpdesk.json"
_METRIC = re.compile(r"\bhelpdesk_[a-z0-9_]+")
# The series a histogram's name stands for in a query.
_HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def promtool(*args) -> subprocess.CompletedProcess:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test-deps` installs Debian's prometheus package"
    return subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


def exported() -> set[str]:
    """Every metric name the services and the gateway export, as queries spell them."""
    names = set(METRIC_NAMES)
    for metric in (gateway_metrics.REQUESTS, gateway_metrics.LATENCY):
        for family in metric.describe():
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def known(name: str, names: set[str]) -> bool:
    if name in names:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in names for s in _HISTOGRAM_SERIES)


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_rules_are_valid():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_as_their_unit_tests_expect():
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_name_only_exported_metrics(source):
    expressions = rule_expressions() if source == "alerts" else dashboard_expressions()
    names = exported()
    used = {name for expr in expressions for name in _METRIC.findall(expr)}
    assert used, "no helpdesk_ metric found: the extraction is broken"
    assert {name for name in used if not known(name, names)} == set()


def test_every_exported_service_metric_is_on_the_dashboard_and_alerted_on():
    """An exported number nobody looks at is a gap: each is graphed, and each the
    brief asks to watch has an alert."""
    graphed = {n for expr in dashboard_expressions() for n in _METRIC.findall(expr)}
    alerted = {n for expr in rule_expressions() for n in _METRIC.findall(expr)}
    for name in METRIC_NAMES:
        assert any(known(used, {name}) for used in graphed), name
    for name in METRIC_NAMES - {"helpdesk_outbox_unpublished"}:  # its age is what is alerted on
        assert any(known(used, {name}) for used in alerted), name


def test_the_checks_catch_an_unknown_metric():
    assert not known("helpdesk_outbox_backlog", exported())
    assert known("helpdesk_rpc_duration_seconds_bucket", exported())
