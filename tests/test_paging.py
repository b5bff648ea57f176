"""One page size and one cursor format for every list: the tickets' and the notices'."""

import base64
from datetime import UTC, datetime

import pytest

from services.gateway import schemas as gateway
from services.notifications import schemas as notifications
from services.tickets import schemas as tickets
from shared import paging
from shared.errors import ValidationFailed

pytestmark = pytest.mark.unit


def test_a_notice_cursor_is_the_shared_cursor_of_its_keyset():
    created = datetime(2026, 11, 27, 12, 43, 10, 123456, tzinfo=UTC)
    cursor = notifications.encode_cursor(created, 7)
    assert paging.decode_cursor(cursor, (datetime, int)) == [created, 7]
    assert notifications.decode_cursor(cursor) == (created, 7)
    assert notifications.decode_cursor(paging.encode_cursor([created.isoformat(), 7])) == (
        created,
        7,
    )


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        paging.encode_cursor(["2026-11-27T12:43:10", 7]),  # no zone
        paging.encode_cursor([datetime.now(UTC).isoformat(), 2**63]),
        paging.encode_cursor([datetime.now(UTC).isoformat(), "7"]),
    ],
)
def test_a_garbled_notice_cursor_names_the_cursor(cursor):
    with pytest.raises(ValidationFailed) as refused:
        notifications.decode_cursor(cursor)
    assert refused.value.details == {"cursor": ["Not a valid cursor."]}


def test_the_gateway_and_the_services_page_with_the_same_limits():
    for schema in (gateway.TicketListQuery(), gateway.NoticeListQuery()):
        (rule,) = schema.fields["limit"].validators
        assert (rule.min, rule.max) == (1, paging.MAX_LIMIT)
        assert schema.fields["limit"].metadata["default"] == paging.DEFAULT_LIMIT
    for schema in (tickets.ListTickets(), notifications.ListNoticesParams()):
        assert schema.fields["limit"].load_default == paging.DEFAULT_LIMIT
    sort = gateway.AdminTicketListQuery().fields["sort"]
    assert tuple(sort.validators[0].choices) == tuple(
        tickets.AdminListTickets().fields["sort"].validators[0].choices
    )
