"""A ticket's view carries its latest messages; earlier ones come a page at a time."""

import pytest

from services.tickets.tests.integration.conftest import (
    ADMIN,
    OTHER_USER,
    USER,
    new_ticket_fields,
)
from shared.catalog import VIEW_MESSAGES
from shared.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.integration


@pytest.fixture
def busy_ticket(call):
    """A ticket with 130 messages: every third an internal note, the rest public."""
    ticket = call("create_ticket", USER, new_ticket_fields())
    for i in range(130):
        call("admin_add_message", ADMIN, ticket["id"], {"body": f"m{i}", "internal": i % 3 == 0})
    return ticket


def _all_pages(call, method, actor, ticket_id, limit):
    """Every message, walking back from the latest with ``before``."""
    pages, before = [], None
    while True:
        page = call(method, actor, ticket_id, {"before": before, "limit": limit})
        pages.insert(0, page["items"])
        if not page["earlier_messages"]:
            return [m for items in pages for m in items]
        before = page["items"][0]["id"]


def test_the_view_holds_the_latest_messages_and_counts_the_earlier_ones(call, busy_ticket):
    public = [f"m{i}" for i in range(130) if i % 3]
    view = call("get_ticket", USER, busy_ticket["id"])
    assert [m["body"] for m in view["messages"]] == public[-VIEW_MESSAGES:]  # chronological
    assert view["earlier_messages"] == len(public) - VIEW_MESSAGES
    support = call("admin_get_ticket", ADMIN, busy_ticket["id"])
    assert [m["body"] for m in support["messages"]] == [f"m{i}" for i in range(80, 130)]
    assert support["earlier_messages"] == 80
    # A ticket with few messages: all of them, none earlier.
    small = call("create_ticket", USER, new_ticket_fields())
    assert call("get_ticket", USER, small["id"])["earlier_messages"] == 0


def test_pages_walk_back_to_the_first_message_in_order(call, busy_ticket):
    public = [f"m{i}" for i in range(130) if i % 3]
    owner = _all_pages(call, "list_messages", USER, busy_ticket["id"], 7)
    assert [m["body"] for m in owner] == public
    assert all("internal" not in m for m in owner)
    support = _all_pages(call, "admin_list_messages", ADMIN, busy_ticket["id"], 100)
    assert [m["body"] for m in support] == [f"m{i}" for i in range(130)]
    assert [m["internal"] for m in support] == [i % 3 == 0 for i in range(130)]
    # The first page (no ``before``) is the view's.
    view = call("get_ticket", USER, busy_ticket["id"])
    first = call("list_messages", USER, busy_ticket["id"], {})
    assert first == {"items": view["messages"], "earlier_messages": view["earlier_messages"]}


def test_pages_are_the_callers_and_checked(call, busy_ticket):
    with pytest.raises(NotFound):
        call("list_messages", OTHER_USER, busy_ticket["id"], {})
    with pytest.raises(NotFound):  # NotFound outranks a bad query
        call("list_messages", OTHER_USER, busy_ticket["id"], {"limit": 0})
    with pytest.raises(NotFound):
        call("list_messages", USER, 999999, {})
    for bad in ({"limit": 0}, {"limit": 101}, {"before": 0}, {"before": "x"}, {"page": 2}):
        with pytest.raises(ValidationFailed) as err:
            call("list_messages", USER, busy_ticket["id"], bad)
        assert list(err.value.details) == list(bad)
    assert call("list_messages", USER, busy_ticket["id"], {"before": 1}) == {
        "items": [],
        "earlier_messages": 0,
    }
