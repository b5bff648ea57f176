"""Every RPC method end to end against the real database and broker."""

import pytest

from services.tickets.tests.integration.conftest import (
    ADMIN,
    ADMIN_2,
    OTHER_USER,
    USER,
    new_ticket_fields,
)
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.integration


def test_ping_and_catalog(call):
    assert call("ping") == "pong"
    catalog = call("get_catalog")
    assert [t["key"] for t in catalog["issue_types"]] == ["access", "bug", "billing", "data", "other"]
    assert catalog["limits"]["tickets_per_day"] == 5


def test_create_returns_the_owner_view(call):
    ticket = call("create_ticket", USER, new_ticket_fields(subject="  Charts do not load  "))
    assert ticket["subject"] == "Charts do not load"
    assert ticket["status"] == "open"
    assert ticket["priority"] == "high"
    assert ticket["created_at"].endswith("Z")
    assert ticket["description_html"].startswith("<p>")
    assert ticket["messages"] == []
    assert ticket["timeline"] == [{"status": "open", "at": ticket["created_at"], "by": "user"}]
    assert ticket["assignee"] is None and ticket["resolution_note"] is None
    assert call("get_ticket", USER, ticket["id"]) == ticket
