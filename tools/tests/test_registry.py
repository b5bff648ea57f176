"""The registry: each service declares itself; the tools and ``shared/`` stay apart."""

from __future__ import annotations

import ast
import re

import pytest

from shared.config import ConfigError, Settings
from tools import registry
from tools.localrun import BIN, ROOT, process_specs

pytestmark = pytest.mark.unit


def test_every_service_with_a_database_is_registered_and_declares_itself():
    with_migrations = {p.parts[-3] for p in (ROOT / "services").glob("*/migrations/env.py")}
    assert set(registry.names()) == with_migrations == {"tickets", "notifications"}
    for service in registry.services():
        assert (service.migrations / "env.py").is_file()
        assert issubclass(service.settings, Settings)
        defaults = service.settings()
        assert service.database_url(defaults).endswith(f"/helpdesk_{service.name}")
        assert service.instances(defaults) == 1
        assert service.encrypted_columns, service.name
        assert (BIN / service.command).exists()
    queues = {queue.name for queue in registry.event_queues()}
    assert queues == {"notifications.ticket-events", "notifications.ticket-events.dead"}


def test_make_run_starts_each_service_as_often_as_its_instances_setting_says():
    settings = registry.settings_from_env(
        {
            "HELPDESK_ENV": "development",
            "HELPDESK_TICKETS_INSTANCES": "2",
            "HELPDESK_NOTIFICATIONS_INSTANCES": "3",
        }
    )
    specs = process_specs(settings)
    assert [spec.label for spec in specs] == [
        "tickets.1",
        "tickets.2",
        "notifications.1",
        "notifications.2",
        "notifications.3",
        "gateway.1",
        "stream.1",
    ]
    assert {spec.argv for spec in specs} == {
        (str(BIN / "helpdesk-tickets"),),
        (str(BIN / "helpdesk-notifications"),),
        (str(BIN / "helpdesk-gateway"),),
        (str(BIN / "helpdesk-stream"),),
    }


def test_the_tools_settings_hold_every_service_s_and_validate_each():
    settings = registry.settings_from_env({"HELPDESK_ENV": "test"})
    for service in registry.services():
        assert isinstance(settings, service.settings)
        assert service.database_url(settings) == service.database_url(service.settings())
    production = {"HELPDESK_ENV": "production", "HELPDESK_AMQP_URL": "amqps://u:p@mq:5671/h"}
    for service in registry.services():
        variable = f"HELPDESK_{service.name.upper()}_DATABASE_URL"
        with pytest.raises(ConfigError, match=f"{variable} must be TLS-verified"):
            registry.settings_from_env({**production, variable: "postgresql://u@db/x"})


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_shared_is_a_library_that_knows_no_service_and_no_tool():
    library = list((ROOT / "shared").glob("*.py"))
    for path in library:
        reaching_up = {
            name for name in _imports(path) if name.split(".")[0] in ("services", "tools")
        }
        assert not reaching_up, f"{path.name} imports {reaching_up}"
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bservices[./][a-z]", text), f"{path.name} names a service module"
        assert "notifications.ticket-events" not in text, f"{path.name} names a service's queue"
