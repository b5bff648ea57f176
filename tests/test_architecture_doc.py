"""docs/architecture.md names every module of each service and every RPC method."""

import re

import pytest
from nameko.rpc import Rpc

from services.notifications.service import NotificationsService
from services.tickets.service import TicketsService
from tools.localrun import ROOT

pytestmark = pytest.mark.unit

DOC = (ROOT / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize("service", [TicketsService, NotificationsService])
def test_every_rpc_method_is_in_the_rpc_tables(service):
    methods = {
        name
        for name, member in vars(service).items()
        if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ()))
    }
    assert methods
    section = re.split(r"\n##+ ", DOC.split(f"### `{service.name}`")[1])[0]
    listed = set(re.findall(r"^\| `([a-z_]+)\(", section, re.M))
    assert listed == methods


@pytest.mark.parametrize("service", ["tickets", "notifications", "gateway"])
def test_every_module_of_each_service_is_named(service):
    row = next(line for line in DOC.splitlines() if line.startswith(f"| `{service}` |"))
    modules = {p.name for p in (ROOT / "services" / service).glob("*.py")} - {"__init__.py"}
    missing = {name for name in modules if f"`{name}`" not in row}
    assert not missing


@pytest.mark.parametrize("folder", ["shared", "tools"])
def test_every_module_of_shared_and_tools_is_named(folder):
    section = next(p for p in DOC.split("\n\n") if p.startswith(f"`{folder}/` holds"))
    modules = {p.name for p in (ROOT / folder).glob("*.py")} - {"__init__.py"}
    missing = {name for name in modules if f"`{name}`" not in section}
    assert not missing
