"""Staff, teams, routing on arrival and automatic assignment, on the unit of work in
memory (``fakes.FakeUnitOfWork``): the rules and the events they record. The row
locks that keep round robin fair under concurrent creations, and the SQL, are the
integration tests' part (``integration/test_teams.py``)."""

import pytest

from services.tickets import domain, handlers
from services.tickets.handlers import Command
from services.tickets.tests.unit.fakes import ADMIN, FIELDS, USER, FakeUnitOfWork
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.unit

KIM = {"id": "a-2", "name": "Kim", "role": "admin"}
LEE = {"id": "a-3", "name": "Lee", "role": "admin"}


@pytest.fixture
def uow():
    uow = FakeUnitOfWork()
    for admin in (ADMIN, KIM, LEE):
        handlers.record_staff(Command(admin), uow)
    return uow


def create(uow, actor=USER, **overrides):
    return handlers.create_ticket(Command(actor, {**FIELDS, **overrides}), uow)


def team(uow, key, **fields):
    body = {"key": key, "label": key.title(), **fields}
    return handlers.TEAMS.create(Command(ADMIN, body), uow)


def events(uow, event_type):
    return [payload for t, payload in uow.events if t == event_type]


def admin_view(uow, ticket_id):
    return handlers.admin_get_ticket(Command(ADMIN, ticket_id=ticket_id), uow)


# --- routing: pure rules ---------------------------------------------------------------
def test_route_prefers_the_first_team_taking_the_feature_then_the_issue_type():
    by_type = domain.Team("bugs", "Bugs", issue_types=("bug",))
    by_feature = domain.Team("dash", "Dashboard", features=("dashboard",))
    later = domain.Team("dash2", "Dashboard too", features=("dashboard",))
    assert domain.route([by_type, by_feature, later], "dashboard", "bug") is by_feature
    assert domain.route([by_type, by_feature, later], "reports", "bug") is by_type
    assert domain.route([by_type, by_feature], "reports", "billing") is None
    assert domain.route([], "dashboard", "bug") is None


def test_round_robin_walks_the_members_in_order_and_resumes_after_the_last():
    members = ("a", "b", "c")
    assert domain.next_in_turn(members, None) == "a"
    assert domain.next_in_turn(members, "a") == "b"
    assert domain.next_in_turn(members, "c") == "a"
    assert domain.next_in_turn(members, "gone") == "a"  # removed from the team


def test_fewest_open_picks_the_least_loaded_and_breaks_ties_by_team_order():
    members = ("a", "b", "c")
    assert domain.least_loaded(members, {"a": 3, "b": 1, "c": 2}) == "b"
    assert domain.least_loaded(members, {"a": 1, "b": 0, "c": 0}) == "b"
    assert domain.least_loaded(members, {}) == "a"


def test_a_manual_team_or_one_without_members_assigns_nobody():
    assert domain.choose_assignee(domain.Team("t", "T", members=("a",)), {}) is None
    assert domain.choose_assignee(domain.Team("t", "T", assignment="round_robin"), {}) is None


# --- routing on arrival through the handlers ------------------------------------------
def test_a_new_ticket_no_team_takes_is_heard_by_every_known_staff_member(uow):
    ticket = create(uow)
    assert admin_view(uow, ticket["id"])["team"] is None
    [created] = events(uow, "ticket_created")
    assert created["team_key"] is None and created["assignee_id"] is None
    assert sorted(created["team_member_ids"]) == ["a-1", "a-2", "a-3"]


def test_a_new_ticket_goes_to_the_team_taking_its_feature_whose_members_hear(uow):
    team(uow, "bugs", issue_types=["bug"], members=["a-3"])
    team(uow, "dash", features=["dashboard"], members=["a-1", "a-2"])
    ticket = create(uow)
    assert admin_view(uow, ticket["id"])["team"] == {"key": "dash", "label": "Dash"}
    assert "team" not in ticket  # the owner's view never names support's teams
    [created] = events(uow, "ticket_created")
    assert created["team_key"] == "dash" and created["team_member_ids"] == ("a-1", "a-2")
    other = create(uow, feature="reports")
    assert admin_view(uow, other["id"])["team"]["key"] == "bugs"
    assert events(uow, "ticket_created")[-1]["team_member_ids"] == ("a-3",)
    assert events(uow, "ticket_assigned") == []


def test_a_team_with_nobody_in_it_is_heard_of_by_every_known_staff_member(uow):
    team(uow, "empty", features=["dashboard"])
    create(uow)
    assert sorted(events(uow, "ticket_created")[-1]["team_member_ids"]) == ["a-1", "a-2", "a-3"]


def test_round_robin_gives_each_new_ticket_to_the_next_member_in_the_same_action(uow):
    team(
        uow, "dash", features=["dashboard"], members=["a-1", "a-2", "a-3"], assignment="round_robin"
    )
    holders = [admin_view(uow, create(uow)["id"])["assignee"]["id"] for _ in range(4)]
    assert holders == ["a-1", "a-2", "a-3", "a-1"]
    assigned = events(uow, "ticket_assigned")
    assert [e["assignee_id"] for e in assigned] == holders
    assert all(e["actor_role"] == "system" and e["previous_assignee_id"] is None for e in assigned)
    # Assigned on arrival: the team is not told of it as work nobody holds.
    assert all(e["team_member_ids"] == () for e in events(uow, "ticket_created"))
    assert admin_view(uow, 1)["assignee"] == {"id": "a-1", "name": "Sam"}
    # A member leaves: the rotation goes on with those left.
    handlers.TEAMS.change(Command(ADMIN, {"members": ["a-1", "a-3"]}, team_key="dash"), uow)
    assert admin_view(uow, create(uow, actor=KIM)["id"])["assignee"]["id"] == "a-3"


def test_fewest_open_gives_the_ticket_to_the_member_holding_the_fewest_open_ones(uow):
    team(uow, "dash", features=["dashboard"], members=["a-1", "a-2"], assignment="fewest_open")
    first = create(uow)["id"]
    assert admin_view(uow, first)["assignee"]["id"] == "a-1"  # a tie: listed first
    assert admin_view(uow, create(uow)["id"])["assignee"]["id"] == "a-2"
    assert admin_view(uow, create(uow)["id"])["assignee"]["id"] == "a-1"
    # A resolved ticket no longer counts as open work.
    handlers.change_status(
        Command(ADMIN, {"status": "resolved", "resolution_note": "Fixed in 4.2."}, first), uow
    )
    assert admin_view(uow, create(uow)["id"])["assignee"]["id"] == "a-1"
    directory = handlers.list_staff(Command(ADMIN), uow)["items"]
    assert {m["id"]: m["open_assigned"] for m in directory} == {"a-1": 2, "a-2": 1, "a-3": 0}


def test_an_owner_reply_on_an_unassigned_ticket_names_its_team_at_that_moment(uow):
    team(uow, "dash", features=["dashboard"], members=["a-2"])
    tid = create(uow)["id"]
    handlers.TEAMS.change(Command(ADMIN, {"members": ["a-2", "a-3"]}, team_key="dash"), uow)
    handlers.add_reply(Command(USER, {"body": "Any news?"}, tid), uow)
    assert events(uow, "message_added")[-1]["team_member_ids"] == ("a-2", "a-3")
    handlers.assign_ticket(Command(ADMIN, {"assignee_id": "a-3"}, tid), uow)
    handlers.add_reply(Command(USER, {"body": "Still broken."}, tid), uow)
    assert events(uow, "message_added")[-1]["team_member_ids"] == ()
    # Support's messages never name the team.
    handlers.assign_ticket(Command(ADMIN, {"assignee_id": None}, tid), uow)
    handlers.admin_add_message(Command(ADMIN, {"body": "Looking"}, tid), uow)
    assert events(uow, "message_added")[-1]["team_member_ids"] == ()


# --- staff and assignment -------------------------------------------------------------
def test_the_directory_lists_known_staff_with_names_teams_and_open_load(uow):
    handlers.record_staff(Command({"id": "a-2", "name": None, "role": "admin"}), uow)
    team(uow, "dash", members=["a-2", "new-hire"])
    handlers.record_staff(Command(dict(LEE, name="Lee Renamed")), uow)
    items = handlers.list_staff(Command(ADMIN), uow)["items"]
    assert items == [
        {"id": "a-2", "name": "Kim", "teams": ["dash"], "open_assigned": 0},  # name kept
        {"id": "a-3", "name": "Lee Renamed", "teams": [], "open_assigned": 0},
        {"id": "new-hire", "name": None, "teams": ["dash"], "open_assigned": 0},
        {"id": "a-1", "name": "Sam", "teams": [], "open_assigned": 0},
    ]
    with pytest.raises(Forbidden):
        handlers.list_staff(Command(USER), uow)
    with pytest.raises(Forbidden):
        handlers.record_staff(Command(USER), uow)


def test_assignment_is_to_known_staff_only_named_by_the_directory(uow):
    tid = create(uow)["id"]
    with pytest.raises(ValidationFailed) as err:
        handlers.assign_ticket(Command(ADMIN, {"assignee_id": "stranger"}, tid), uow)
    assert list(err.value.details) == ["assignee_id"]
    assert events(uow, "ticket_assigned") == []
    view = handlers.assign_ticket(Command(ADMIN, {"assignee_id": "a-2"}, tid), uow)
    assert view["assignee"] == {"id": "a-2", "name": "Kim"}
    team(uow, "dash", members=["new-hire"])  # named in a team: known staff
    view = handlers.assign_ticket(Command(ADMIN, {"assignee_id": "new-hire"}, tid), uow)
    assert view["assignee"] == {"id": "new-hire", "name": None}
    with pytest.raises(ValidationFailed):  # unknown fields: names are not the caller's to give
        handlers.assign_ticket(
            Command(ADMIN, {"assignee_id": "a-2", "assignee_name": "X"}, tid), uow
        )


# --- teams ----------------------------------------------------------------------------
def test_teams_are_created_listed_changed_and_deleted(uow):
    made = team(uow, "billing", features=["billing"], issue_types=["billing"], members=["a-2"])
    assert made == {
        "key": "billing",
        "label": "Billing",
        "members": ["a-2"],
        "features": ["billing"],
        "issue_types": ["billing"],
        "assignment": "manual",
    }
    team(uow, "access", issue_types=["access"])
    listed = handlers.TEAMS.list(Command(ADMIN), uow)["items"]
    assert [t["key"] for t in listed] == ["billing", "access"]  # creation order
    changed = handlers.TEAMS.change(
        Command(ADMIN, {"label": "Billing desk", "assignment": "round_robin"}, team_key="billing"),
        uow,
    )
    assert (changed["label"], changed["assignment"], changed["members"]) == (
        "Billing desk",
        "round_robin",
        ["a-2"],
    )
    assert handlers.TEAMS.get(Command(ADMIN, team_key="billing"), uow) == changed
    tid = create(uow, feature="billing")["id"]
    handlers.TEAMS.delete(Command(ADMIN, team_key="billing"), uow)
    with pytest.raises(NotFound):
        handlers.TEAMS.get(Command(ADMIN, team_key="billing"), uow)
    assert admin_view(uow, tid)["team"] is None  # its tickets keep no team


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Has Space", "label": "X"}, "key"),
        ({"key": "none", "label": "X"}, "key"),
        ({"key": "x" * 65, "label": "X"}, "key"),
        ({"key": "ok", "label": "  "}, "label"),
        ({"key": "ok", "label": "X", "features": ["nope"]}, "features"),
        ({"key": "ok", "label": "X", "issue_types": ["bug", "nope"]}, "issue_types"),
        ({"key": "ok", "label": "X", "issue_types": ["bug", "bug"]}, "issue_types"),
        ({"key": "ok", "label": "X", "members": ["me"]}, "members"),
        ({"key": "ok", "label": "X", "members": ["a", "a"]}, "members"),
        ({"key": "ok", "label": "X", "assignment": "random"}, "assignment"),
        ({"key": "ok", "label": "X", "colour": "red"}, "colour"),
        ({"label": "X"}, "key"),
    ],
)
def test_a_bad_team_is_refused_naming_the_field(uow, body, field):
    with pytest.raises(ValidationFailed) as err:
        handlers.TEAMS.create(Command(ADMIN, body), uow)
    assert list(err.value.details) == [field]
    assert handlers.TEAMS.list(Command(ADMIN), uow)["items"] == []


def test_team_errors_come_in_the_contracts_order(uow):
    team(uow, "dash")
    with pytest.raises(Conflict):
        team(uow, "dash")
    with pytest.raises(Forbidden):
        handlers.TEAMS.create(Command(USER, {"key": "x", "label": "X"}), uow)
    for key in ("nope", "Bad Key", 7):
        with pytest.raises(NotFound):  # a missing team outranks a bad body
            handlers.TEAMS.change(Command(ADMIN, {"label": ""}, team_key=key), uow)
        with pytest.raises(NotFound):
            handlers.TEAMS.delete(Command(ADMIN, team_key=key), uow)
    with pytest.raises(ValidationFailed) as err:
        handlers.TEAMS.change(Command(ADMIN, {"key": "other"}, team_key="dash"), uow)
    assert list(err.value.details) == ["key"]  # a key is a team's name for good


def test_the_queue_filters_by_team(uow):
    team(uow, "dash", features=["dashboard"])
    in_team = create(uow)["id"]
    no_team = create(uow, feature="reports")["id"]

    def ids(team_filter):
        params = {"team": team_filter}
        return [t["id"] for t in handlers.admin_list_tickets(Command(ADMIN, params), uow)["items"]]

    assert ids("dash") == [in_team]
    assert ids("none") == [no_team]
    assert ids("other") == []
    page = handlers.admin_list_tickets(Command(ADMIN, {}), uow)["items"]
    assert {t["id"]: t["team"] for t in page} == {
        in_team: {"key": "dash", "label": "Dash"},
        no_team: None,
    }
    with pytest.raises(ValidationFailed) as err:
        handlers.admin_list_tickets(Command(ADMIN, {"team": "Not A Key"}), uow)
    assert list(err.value.details) == ["team"]
