"""The catalog file end to end: what an operator writes is what the form is offered
and what a new ticket is checked against; a bad file stops each process at start-up
with one clear line."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import Api
from tools.localrun import ROOT, process_specs

pytestmark = pytest.mark.e2e

CATALOG = """[issue_types]
access = "You can't get into your DevCareer account."
bug = "Something on DevCareer is broken."
billing = "Your DevCareer subscription."
data = "Issues with GitHub, LeetCode, or LinkedIn data synchronization."
other = "Anything else."

[[features]]
key = "mock_interviews"
label = "Mock Interviews"

[[features]]
key = "github_analytics"
label = "GitHub Analytics"
"""


@pytest.fixture(scope="module")
def catalog_stack(make_stack, tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return make_stack(HELPDESK_CATALOG_FILE=str(path))


def test_the_catalog_serves_the_operator_s_file(catalog_stack):
    alice = Api(catalog_stack, "alice-catalog")
    catalog = alice.get("/api/v1/catalog").json()
    assert catalog["features"] == [
        {"key": "mock_interviews", "label": "Mock Interviews"},
        {"key": "github_analytics", "label": "GitHub Analytics"},
    ]
    by_key = {t["key"]: t for t in catalog["issue_types"]}
    assert by_key["billing"] == {
        "key": "billing",
        "label": "Billing",
        "priority": "high",
        "description": "Your DevCareer subscription.",
    }
    # The tickets service reads the same file: its features are the ones a ticket takes.
    ticket = alice.create(feature="mock_interviews")
    assert ticket["feature"] == "mock_interviews"
    refused = alice.post(
        "/api/v1/tickets",
        {
            "issue_type": "bug",
            "feature": "dashboard",  # a default feature this file does not list
            "subject": "Charts stay empty",
            "description": "Every time I open the dashboard the charts stay empty, always.",
        },
    )
    assert refused.status_code == 422 and "feature" in refused.json()["error"]["details"]


def _start(service: str, env: dict):
    argv = next(spec.argv for spec in process_specs() if spec.service == service)
    if service != "gateway":
        argv = [*argv, "--check"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    return subprocess.run(
        argv,
        cwd=ROOT,
        env=base | {"HELPDESK_ENV": "development", "HELPDESK_HTTP_PORT": "1"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", ["gateway", "tickets"])
def test_a_bad_catalog_file_stops_the_start_with_a_clear_reason(service, tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG.replace("other = ", "question = "), encoding="utf-8")
    result = _start(service, {"HELPDESK_CATALOG_FILE": str(path)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"HELPDESK_CATALOG_FILE ({path}): [issue_types] has 'question'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _start(service, {"HELPDESK_CATALOG_FILE": str(tmp_path / "nope.toml")})
    assert missing.returncode == 2 and "no such file" in missing.stderr
