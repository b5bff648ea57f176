"""Staff and teams against the real PostgreSQL: the directory, teams stored and
changed, routing and automatic assignment in the create transaction, fair round
robin and fewest open under racing creations on two instances, and the recipients
of team notices carried in the events."""

import eventlet
import pytest
from nameko.testing.utils import get_container

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    ADMIN_2,
    USER,
    drain,
    new_ticket_fields,
    run_entrypoint,
)
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events import parse_event

pytestmark = pytest.mark.integration

LEE = {"id": "a-3", "name": "Lee Support", "role": "admin"}


def _users(n):
    # The daily allowance is per user: racing creations come from several owners.
    return [{"id": f"u-race-{i}", "name": None, "role": "user"} for i in range(n)]


def _team(call, key, **fields):
    return call("create_team", ADMIN, {"key": key, "label": key.title(), **fields})


def test_the_directory_records_admins_and_team_members_with_their_latest_names(call, db):
    call("record_staff", ADMIN)
    call("record_staff", ADMIN_2)
    call("record_staff", dict(ADMIN_2, name=None))  # a token without a name keeps it
    call("record_staff", dict(ADMIN, name="Sam Renamed"))
    _team(call, "desk", members=["a-2", "new-hire"])
    tid = call("create_ticket", USER, new_ticket_fields())["id"]
    call("assign_ticket", ADMIN, tid, {"assignee_id": "new-hire"})
    resolved = call("create_ticket", USER, new_ticket_fields())["id"]
    call("assign_ticket", ADMIN, resolved, {"assignee_id": "new-hire"})
    call(
        "change_status",
        ADMIN,
        resolved,
        {"status": "resolved", "resolution_note": "Fixed it for you."},
    )
    assert call("list_staff", ADMIN)["items"] == [
        {"id": "a-2", "name": "Kim Support", "teams": ["desk"], "open_assigned": 0},
        {"id": "new-hire", "name": None, "teams": ["desk"], "open_assigned": 1},
        {"id": "a-1", "name": "Sam Renamed", "teams": [], "open_assigned": 0},
    ]
    # Recording the same (id, name) again writes nothing.
    before = db.execute("SELECT xmin::text FROM staff WHERE id = 'a-1'").fetchone()[0]
    call("record_staff", dict(ADMIN, name="Sam Renamed"))
    assert db.execute("SELECT xmin::text FROM staff WHERE id = 'a-1'").fetchone()[0] == before


def test_teams_are_stored_changed_and_deleted_leaving_their_tickets_with_none(call, db):
    call("record_staff", ADMIN)
    made = _team(call, "billing", features=["billing"], issue_types=["billing"], members=["a-1"])
    assert made["members"] == ["a-1"] and made["assignment"] == "manual"
    _team(call, "access", issue_types=["access"])
    with pytest.raises(Conflict):
        _team(call, "billing")
    with pytest.raises(ValidationFailed) as err:
        _team(call, "x", features=["nope"], issue_types=["nope"])
    assert sorted(err.value.details) == ["features", "issue_types"]
    assert [t["key"] for t in call("list_teams", ADMIN)["items"]] == ["billing", "access"]
    changed = call("change_team", ADMIN, "billing", {"label": "Billing desk"})
    assert changed == dict(made, label="Billing desk")
    assert call("get_team", ADMIN, "billing") == changed
    tid = call("create_ticket", USER, new_ticket_fields(feature="billing"))["id"]
    assert call("admin_get_ticket", ADMIN, tid)["team"] == {
        "key": "billing",
        "label": "Billing desk",
    }
    call("delete_team", ADMIN, "billing")
    with pytest.raises(NotFound):
        call("get_team", ADMIN, "billing")
    with pytest.raises(NotFound):
        call("delete_team", ADMIN, "billing")
    assert call("admin_get_ticket", ADMIN, tid)["team"] is None
    assert db.execute("SELECT team_key FROM tickets WHERE id = %s", (tid,)).fetchone()[0] is None


def test_routing_and_the_team_filter(call, amqp_url):
    for admin in (ADMIN, ADMIN_2, LEE):
        call("record_staff", admin)
    _team(call, "bugs", issue_types=["bug"], members=["a-3"])
    _team(call, "dash", features=["dashboard"], members=["a-1", "a-2"])
    by_feature = call("create_ticket", USER, new_ticket_fields())["id"]
    by_type = call("create_ticket", USER, new_ticket_fields(feature="reports"))["id"]
    nowhere = call(
        "create_ticket", USER, new_ticket_fields(feature="github_analytics", issue_type="data")
    )["id"]
    call("add_reply", USER, by_type, {"body": "Any news?"})

    def ids(team):
        return [t["id"] for t in call("admin_list_tickets", ADMIN, {"team": team})["items"]]

    assert ids("dash") == [by_feature] and ids("bugs") == [by_type] and ids("none") == [nowhere]
    items = {t["id"]: t["team"] for t in call("admin_list_tickets", ADMIN, {})["items"]}
    assert items[by_feature] == {"key": "dash", "label": "Dash"} and items[nowhere] is None

    events = [parse_event(b) for b in drain(amqp_url, timeout=5, expect=4)]
    created = {
        e["payload"]["ticket_id"]: e["payload"] for e in events if e["type"] == "ticket_created"
    }
    assert created[by_feature]["team_member_ids"] == ["a-1", "a-2"]
    assert created[by_type]["team_member_ids"] == ["a-3"]
    assert created[nowhere]["team_member_ids"] == ["a-1", "a-2", "a-3"]  # every known staff
    [reply] = [e["payload"] for e in events if e["type"] == "message_added"]
    assert reply["team_member_ids"] == ["a-3"]


def _containers(runner_factory, settings, n=2):
    containers = []
    for _ in range(n):
        runner = runner_factory(settings.nameko_config(), TicketsService)
        runner.start()
        containers.append(get_container(runner, TicketsService))
    return containers


def test_round_robin_stays_fair_under_racing_creations_on_two_instances(
    call, runner_factory, settings, db
):
    for admin in (ADMIN, ADMIN_2, LEE):
        call("record_staff", admin)
    _team(
        call,
        "dash",
        features=["dashboard"],
        members=["a-1", "a-2", "a-3"],
        assignment="round_robin",
    )
    containers = _containers(runner_factory, settings)
    owners = _users(12)
    pool = eventlet.GreenPool(12)
    created = list(
        pool.imap(
            lambda i: run_entrypoint(
                containers[i % 2], "create_ticket", owners[i], new_ticket_fields()
            ),
            range(12),
        )
    )
    assert len(created) == 12
    rows = db.execute("SELECT assignee_id FROM tickets ORDER BY id").fetchall()
    holders = [r[0] for r in rows]
    # Each in turn, in the order the creations got the team: 4 each.
    assert sorted(holders) == ["a-1"] * 4 + ["a-2"] * 4 + ["a-3"] * 4
    assert (
        db.execute(
            "SELECT assignee_name FROM tickets WHERE assignee_id = 'a-2' LIMIT 1"
        ).fetchone()[0]
        == "Kim Support"
    )


def test_fewest_open_under_racing_creations_spreads_the_load(call, runner_factory, settings, db):
    for admin in (ADMIN, ADMIN_2):
        call("record_staff", admin)
    busy = call("create_ticket", USER, new_ticket_fields(feature="github_analytics"))["id"]
    call("assign_ticket", ADMIN, busy, {"assignee_id": "a-1"})  # a-1 starts with one
    _team(call, "dash", features=["dashboard"], members=["a-1", "a-2"], assignment="fewest_open")
    containers = _containers(runner_factory, settings)
    owners = _users(7)
    pool = eventlet.GreenPool(7)
    list(
        pool.imap(
            lambda i: run_entrypoint(
                containers[i % 2], "create_ticket", owners[i], new_ticket_fields()
            ),
            range(7),
        )
    )
    loads = {m["id"]: m["open_assigned"] for m in call("list_staff", ADMIN)["items"]}
    assert loads == {"a-1": 4, "a-2": 4}


def test_an_auto_assignment_is_one_action_with_the_creation(call, amqp_url):
    call("record_staff", ADMIN_2)
    _team(call, "dash", features=["dashboard"], members=["a-2"], assignment="round_robin")
    ticket = call("create_ticket", USER, new_ticket_fields())
    events = [parse_event(b) for b in drain(amqp_url, timeout=5, expect=2)]
    assert [e["type"] for e in events] == ["ticket_created", "ticket_assigned"]
    created, assigned = events
    assert created["action_id"] == assigned["action_id"]
    assert (
        created["payload"]["assignee_id"] == "a-2" and created["payload"]["team_member_ids"] == []
    )
    assert assigned["payload"]["actor_role"] == "system"
    assert (assigned["payload"]["assignee_id"], assigned["payload"]["assignee_name"]) == (
        "a-2",
        "Kim Support",
    )
    assert call("admin_get_ticket", ADMIN, ticket["id"])["assignee"] == {
        "id": "a-2",
        "name": "Kim Support",
    }
