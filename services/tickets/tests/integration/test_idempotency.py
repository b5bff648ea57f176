"""Keyed commands happen once: a repeat is answered as the first was (real PG + RabbitMQ)."""

import eventlet
import pytest
from nameko.testing.utils import get_container

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    OTHER_USER,
    USER,
    new_ticket_fields,
    run_entrypoint,
)
from shared.errors import Conflict, NotFound, RateLimited, ValidationFailed
from shared.idempotency import HEADER, fingerprint

pytestmark = pytest.mark.integration


def keyed(key, *request):
    """The ``idempotency`` argument for ``key`` on a request (route, ids, body)."""
    return {"key": key, "fingerprint": fingerprint("POST", *request)}


def create_key(key, fields):
    return keyed(key, "/api/v1/tickets", {}, fields)


def reply_key(key, ticket_id, fields):
    return keyed(key, "/api/v1/tickets/{ticket_id}/messages", {"ticket_id": ticket_id}, fields)


def count(db, sql):
    return db.execute(sql).fetchone()[0]


def test_a_repeated_create_is_the_first_ticket_and_spends_no_allowance(call, db):
    fields = new_ticket_fields()
    first = call("create_ticket", USER, fields, create_key("k1", fields))
    assert call("create_ticket", USER, fields, create_key("k1", fields)) == first
    assert count(db, "SELECT count(*) FROM tickets") == 1
    assert count(db, "SELECT n FROM ticket_allowance") == 1
    assert count(db, "SELECT count(*) FROM outbox") == 1  # one ticket_created, once


def test_five_creates_retried_leave_the_allowance_at_five(call, db):
    firsts = []
    for i in range(5):
        fields = new_ticket_fields(subject=f"Charts do not load {i}")
        firsts.append((fields, call("create_ticket", USER, fields, create_key(f"k{i}", fields))))
    for i, (fields, first) in enumerate(firsts):
        assert call("create_ticket", USER, fields, create_key(f"k{i}", fields)) == first
    sixth = new_ticket_fields(subject="Charts do not load 6")
    with pytest.raises(RateLimited):
        call("create_ticket", USER, sixth, create_key("k6", sixth))
    assert count(db, "SELECT count(*) FROM tickets") == 5


def test_a_repeated_reply_is_one_message_and_one_event_even_after_the_ticket_closed(call, db):
    ticket = call("create_ticket", USER, new_ticket_fields())
    fields = {"body": "It happened again this morning."}
    key = reply_key("r1", ticket["id"], fields)
    first = call("add_reply", USER, ticket["id"], fields, key)
    call("close_ticket", USER, ticket["id"], {})
    assert call("add_reply", USER, ticket["id"], fields, key) == first  # not a 409
    assert count(db, "SELECT count(*) FROM messages") == 1
    assert count(db, "SELECT count(*) FROM outbox WHERE type = 'message_added'") == 1


def test_a_key_used_for_another_request_is_a_422_after_the_404(call, db):
    mine = call("create_ticket", USER, new_ticket_fields())
    theirs = call("create_ticket", OTHER_USER, new_ticket_fields())
    fields = {"body": "First words."}
    call("add_reply", USER, mine["id"], fields, reply_key("r1", mine["id"], fields))
    other = {"body": "Other words."}
    with pytest.raises(ValidationFailed) as refused:
        call("add_reply", USER, mine["id"], other, reply_key("r1", mine["id"], other))
    assert list(refused.value.details) == [HEADER]
    with pytest.raises(NotFound):  # not the caller's ticket: 404 outranks the 422
        call("add_reply", USER, theirs["id"], other, reply_key("r1", theirs["id"], other))
    assert count(db, "SELECT count(*) FROM messages") == 1


def test_another_callers_key_never_matches(call, db):
    fields = new_ticket_fields()
    mine = call("create_ticket", USER, fields, create_key("same", fields))
    theirs = call("create_ticket", OTHER_USER, fields, create_key("same", fields))
    assert theirs["id"] != mine["id"]
    assert count(db, "SELECT count(*) FROM tickets") == 2


def test_failed_commands_store_nothing_and_run_again(call, db):
    ticket = call("create_ticket", USER, new_ticket_fields())
    call("close_ticket", USER, ticket["id"], {})
    fields = {"body": "Still there?"}
    key = reply_key("r1", ticket["id"], fields)
    for _ in range(2):
        with pytest.raises(Conflict):  # the closed ticket's 409, each time
            call("add_reply", USER, ticket["id"], fields, key)
    assert count(db, "SELECT count(*) FROM idempotency_keys") == 0


def test_support_commands_replay_their_first_answer(call, db):
    ticket = call("create_ticket", USER, new_ticket_fields())
    call("record_staff", ADMIN)
    path = {"ticket_id": ticket["id"]}
    assign = {"assignee_id": ADMIN["id"]}
    assign_key = keyed("a1", "/api/v1/admin/tickets/{ticket_id}/assign", path, assign)
    assigned = call("assign_ticket", ADMIN, ticket["id"], assign, assign_key)
    status = {"status": "awaiting_user"}
    status_key = keyed("s1", "/api/v1/admin/tickets/{ticket_id}/status", path, status)
    moved = call("change_status", ADMIN, ticket["id"], status, status_key)
    note = {"body": "We are looking into it.", "internal": False}
    note_key = keyed("m1", "/api/v1/admin/tickets/{ticket_id}/messages", path, note)
    message = call("admin_add_message", ADMIN, ticket["id"], note, note_key)
    # Repeats after the ticket moved on: the first answers, nothing done again.
    assert call("change_status", ADMIN, ticket["id"], status, status_key) == moved
    assert call("assign_ticket", ADMIN, ticket["id"], assign, assign_key) == assigned
    assert call("admin_add_message", ADMIN, ticket["id"], note, note_key) == message
    assert count(db, "SELECT count(*) FROM timeline WHERE status = 'awaiting_user'") == 1
    assert count(db, "SELECT count(*) FROM messages") == 1


def test_ten_racing_repeats_across_two_instances_reply_once(runner_factory, settings, call, db):
    containers = []
    for _ in range(2):
        runner = runner_factory(settings.nameko_config(), TicketsService)
        runner.start()
        containers.append(get_container(runner, TicketsService))
    ticket = call("create_ticket", USER, new_ticket_fields())
    fields = {"body": "Sent ten times by an impatient client."}
    key = reply_key("race", ticket["id"], fields)

    def reply(i):
        try:
            return run_entrypoint(containers[i % 2], "add_reply", USER, ticket["id"], fields, key)
        except Conflict as exc:
            return exc

    results = list(eventlet.GreenPool(10).imap(reply, range(10)))
    answers = [r for r in results if isinstance(r, dict)]
    assert answers and all(a == answers[0] for a in answers)
    assert all(isinstance(r, (dict, Conflict)) for r in results)
    assert count(db, "SELECT count(*) FROM messages") == 1
    assert count(db, "SELECT count(*) FROM outbox WHERE type = 'message_added'") == 1
