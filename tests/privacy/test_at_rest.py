"""At rest: a dump of either database holds no ticket text; the API still returns it.

One real stack (tickets, notifications, gunicorn gateway on fresh databases) is
seeded over HTTP with text carrying a unique marker (``scenario.seed``). Then:
``pg_dump`` of both databases contains the marker nowhere; every declared
encrypted column holds only sealed values bound to their rows; the API returns
every text intact to whoever may read it; and a value altered or moved in the
database is refused with 500 ``data_integrity_error``, never shown, with a log line.
So is a value whose *row* is moved to another reader with one SQL UPDATE (a
ticket's owner, a message's ticket or internal flag, a notice's recipient): each
value is bound to what decides who reads it.
"""

import contextlib

import pytest

from shared.crypto import Keyring
from shared.db import make_engine
from tests.e2e.conftest import Api, poll, unique
from tests.privacy.scenario import (
    DATABASES,
    execute,
    pg_dump,
    read_back,
    scalar,
    sealed_rows,
    seed,
)
from tools.rotate_keys import declared_columns

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_stack(make_stack):
    return make_stack()


@pytest.fixture(scope="module")
def seeded(private_stack):
    return seed(private_stack)


@pytest.fixture(scope="module")
def dumps(private_stack, seeded):
    return {name: pg_dump(private_stack.env[var]) for name, var in DATABASES.items()}


def test_a_database_dump_contains_no_ticket_text(seeded, dumps):
    for name, dump in dumps.items():
        assert seeded.marker not in dump, f"ticket text readable in the {name} dump"
        assert seeded.marker.upper() not in dump.upper()
        assert "hd2:t1:" in dump, f"no sealed values in the {name} dump"
    # The control: the dump is real and readable, and subjects are stored readable
    # on purpose (searchable by substring; the form says not to put secrets there).
    assert seeded.subject_marker in dumps["tickets"]


def test_the_api_returns_every_text_intact_to_those_allowed(seeded):
    read_back(seeded)


def test_nobody_else_reads_it(private_stack, seeded):
    stranger = Api(private_stack, unique("stranger"), "user")
    response = stranger.get(f"/api/v1/tickets/{seeded.resolved_id}")
    assert response.status_code == 404 and seeded.marker not in response.text
    notices = stranger.get("/api/v1/notifications")
    assert notices.status_code == 200 and seeded.marker not in notices.text


def test_every_stored_value_is_sealed_and_bound_to_its_row_and_readers(private_stack, seeded):
    keyring = Keyring.from_spec(private_stack.env["HELPDESK_DATA_KEYS"])
    opened = answers = 0
    for service, var in DATABASES.items():
        engine = make_engine(private_stack.env[var], pool_size=1)
        try:
            with engine.connect() as db:
                for column in declared_columns(service):
                    assert column.context, f"{column.label} is bound to its row only"
                    for row in sealed_rows(db, column):
                        assert row.v.startswith("hd2:t1:"), (column.label, row.id)
                        keyring.decrypt(row.v, column.binding(row.id, row._mapping))
                        opened += 1
                        answers += column.table == "idempotency_keys"
        finally:
            engine.dispose()
    # 2 descriptions, 4 messages, 1 resolution, 1 closing note, >= 3 notices.
    assert opened >= 11
    # The answers kept for the scenario's 9 keyed POSTs.
    assert answers == 9


def _message_id(url, ticket_id, internal: bool):
    return scalar(
        url,
        "SELECT id FROM messages WHERE ticket_id = :t AND internal = :i ORDER BY id LIMIT 1",
        t=ticket_id,
        i=internal,
    )


def _flip_one_character(stored: str) -> str:
    head, body = stored[:-10], stored[-10:]
    swapped = "B" if body[0] != "B" else "C"
    return head + swapped + body[1:]


@contextlib.contextmanager
def stored_as(url, table, column, row_id, value_of):
    """Set one stored value to ``value_of(original)`` for the block, then restore it."""
    where = f"FROM {table} WHERE id = :id"
    original = scalar(url, f"SELECT {column} {where}", id=row_id)
    execute(
        url, f"UPDATE {table} SET {column} = :v WHERE id = :id", v=value_of(original), id=row_id
    )
    try:
        yield
    finally:
        execute(url, f"UPDATE {table} SET {column} = :v WHERE id = :id", v=original, id=row_id)


def _assert_refused(response, marker):
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "data_integrity_error"
    assert "integrity check" in error["message"]
    assert marker not in response.text


def test_a_flipped_byte_is_detected_not_returned(private_stack, seeded):
    url = private_stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    note_id = _message_id(url, seeded.resolved_id, True)
    with stored_as(url, "messages", "body", note_id, _flip_one_character):
        response = seeded.admin.get(f"/api/v1/admin/tickets/{seeded.resolved_id}")
        _assert_refused(response, seeded.marker)
    read_back(seeded)  # the restored value opens again


def test_a_value_moved_to_another_row_is_detected(private_stack, seeded):
    """An insider copies the internal note into a public reply's row: refused, not shown."""
    url = private_stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    note_id = _message_id(url, seeded.resolved_id, True)
    public_id = _message_id(url, seeded.resolved_id, False)
    note = scalar(url, "SELECT body FROM messages WHERE id = :id", id=note_id)
    with stored_as(url, "messages", "body", public_id, lambda _: note):
        response = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}")
        _assert_refused(response, seeded.marker)
        assert seeded.texts["internal"] not in response.text
    # A description moved between two tickets of the same owner: refused too.
    other = scalar(url, "SELECT description FROM tickets WHERE id = :id", id=seeded.closed_id)
    with stored_as(url, "tickets", "description", seeded.resolved_id, lambda _: other):
        response = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}")
        _assert_refused(response, seeded.marker)
    read_back(seeded)


def test_a_tampered_notice_is_detected(private_stack, seeded):
    url = private_stack.env["HELPDESK_NOTIFICATIONS_DATABASE_URL"]
    notice_id = scalar(
        url, "SELECT id FROM notices WHERE recipient_id = :r ORDER BY id LIMIT 1", r=seeded.user.sub
    )
    with stored_as(url, "notices", "body", notice_id, _flip_one_character):
        _assert_refused(seeded.user.get("/api/v1/notifications"), seeded.marker)
    read_back(seeded)


# --- a row moved to another reader with one UPDATE ---------------------------------------
def _refused_and_logged(stack, service, response, marker, value_of):
    """500 ``data_integrity_error`` without the text, and the operators' log line
    naming the row (``value_of``), never its text."""
    _assert_refused(response, marker)
    logs = poll(
        lambda: stack.logs(service),
        lambda text: value_of in text and "failed its integrity check" in text,
    )
    lines = [line for line in logs.splitlines() if value_of in line]
    assert any("stored value failed its integrity check" in line for line in lines), lines
    assert marker not in logs


@pytest.fixture(scope="module")
def other_user(private_stack):
    return Api(private_stack, unique("other-user"), "user", "Otto Other")


def test_a_ticket_moved_to_another_owner_is_refused_to_them(private_stack, seeded, other_user):
    url = private_stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    tid = seeded.resolved_id
    with stored_as(url, "tickets", "owner_id", tid, lambda _: other_user.sub):
        response = other_user.get(f"/api/v1/tickets/{tid}")
        _refused_and_logged(
            private_stack, "tickets", response, seeded.marker, f"tickets/description/{tid}"
        )
    read_back(seeded)


def test_a_message_moved_to_another_ticket_is_refused(private_stack, seeded, other_user):
    url = private_stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    own = other_user.create(subject="My own ticket")
    reply_id = _message_id(url, seeded.resolved_id, False)
    with stored_as(url, "messages", "ticket_id", reply_id, lambda _: own["id"]):
        response = other_user.get(f"/api/v1/tickets/{own['id']}")
        _refused_and_logged(
            private_stack, "tickets", response, seeded.marker, f"messages/body/{reply_id}"
        )
    read_back(seeded)


def test_an_internal_note_made_public_is_refused_to_the_owner(private_stack, seeded):
    url = private_stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    note_id = _message_id(url, seeded.resolved_id, True)
    with stored_as(url, "messages", "internal", note_id, lambda _: False):
        response = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}")
        _refused_and_logged(
            private_stack, "tickets", response, seeded.marker, f"messages/body/{note_id}"
        )
        assert seeded.texts["internal"] not in response.text
    read_back(seeded)


def test_a_notice_given_to_another_recipient_is_refused(private_stack, seeded, other_user):
    url = private_stack.env["HELPDESK_NOTIFICATIONS_DATABASE_URL"]
    notice_id = scalar(
        url, "SELECT id FROM notices WHERE recipient_id = :r ORDER BY id LIMIT 1", r=seeded.user.sub
    )
    with stored_as(url, "notices", "recipient_id", notice_id, lambda _: other_user.sub):
        response = other_user.get("/api/v1/notifications")
        _refused_and_logged(
            private_stack, "notifications", response, seeded.marker, f"notices/body/{notice_id}"
        )
    with stored_as(url, "notices", "ticket_id", notice_id, lambda t: t + 1):
        _assert_refused(seeded.user.get("/api/v1/notifications"), seeded.marker)
    read_back(seeded)
