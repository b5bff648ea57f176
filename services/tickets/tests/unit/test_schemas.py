"""Command validation: trimming, lengths, unknown fields, wrong types, cursors."""

import base64
from datetime import UTC, datetime

import pytest

from services.tickets import schemas
from services.tickets.settings import DEFAULT_CATALOG
from shared import paging
from shared.errors import ValidationFailed

pytestmark = pytest.mark.unit

VALID = {
    "issue_type": "data",
    "feature": "reports",
    "subject": "Report totals are off",
    "description": "The monthly report shows totals that differ from the sum of the rows.",
}


def create(fields, features=DEFAULT_CATALOG.features):
    return schemas.load(schemas.CreateTicket(key for key, _label in features), fields)


def errors(fn, *args):
    with pytest.raises(ValidationFailed) as err:
        fn(*args)
    return err.value.details


def test_valid_ticket_is_trimmed():
    loaded = create({**VALID, "subject": "   Report totals are off \n"})
    assert loaded["subject"] == "Report totals are off"


@pytest.mark.parametrize(
    "field,value,ok",
    [
        ("subject", "x" * 10, True),
        ("subject", "x" * 9, False),
        ("subject", "  " + "x" * 9 + "  ", False),
        ("subject", "x" * 200, True),
        ("subject", "x" * 201, False),
        ("description", "y" * 50, True),
        ("description", "y" * 49, False),
        ("description", "y" * 2000, True),
        ("description", "y" * 2001, False),
        ("subject", 1234567890123, False),
        ("subject", None, False),
        ("issue_type", "crash", False),
        ("feature", "not-configured", False),
    ],
)
def test_create_bounds_and_types(field, value, ok):
    fields = {**VALID, field: value}
    if ok:
        create(fields)
    else:
        assert list(errors(create, fields)) == [field]


def test_unknown_and_missing_fields_are_named():
    details = errors(create, {"subject": VALID["subject"], "status": "open", "user_id": "x"})
    assert set(details) == {"issue_type", "feature", "description", "status", "user_id"}
    assert all(isinstance(m, list) for m in details.values())


def test_features_come_from_configuration():
    features = (("mobile", "Mobile app"),)
    create({**VALID, "feature": "mobile"}, features)
    assert list(errors(create, VALID, features)) == ["feature"]


def test_not_an_object():
    assert errors(create, ["a"]) == {"_schema": ["Must be an object."]}


@pytest.mark.parametrize(
    "fields,bad",
    [
        ({"status": "resolved"}, "resolution_note"),
        ({"status": "resolved", "resolution_note": "   short   "}, "resolution_note"),
        ({"status": "in_review", "resolution_note": "long enough note"}, "resolution_note"),
        ({"status": "reopened"}, "status"),
        ({}, "status"),
    ],
)
def test_change_status_validation(fields, bad):
    assert bad in errors(schemas.load, schemas.ChangeStatus(), fields)


def test_change_status_accepts_a_resolution_note_only_for_resolved():
    loaded = schemas.load(
        schemas.ChangeStatus(), {"status": "resolved", "resolution_note": " Fixed the sync job. "}
    )
    assert loaded["resolution_note"] == "Fixed the sync job."
    assert schemas.load(schemas.ChangeStatus(), {"status": "closed"})["resolution_note"] is None


def test_messages():
    assert schemas.load(schemas.AddReply(), {"body": " hi "})["body"] == "hi"
    assert "body" in errors(schemas.load, schemas.AddReply(), {"body": "   "})
    assert "body" in errors(schemas.load, schemas.AddReply(), {"body": "x" * 5001})
    assert "internal" in errors(schemas.load, schemas.AddReply(), {"body": "x", "internal": True})
    admin = schemas.load(schemas.AdminAddMessage(), {"body": "x"})
    assert admin["internal"] is False
    assert "internal" in errors(
        schemas.load, schemas.AdminAddMessage(), {"body": "x", "internal": 1}
    )


def test_close_note_is_optional():
    assert schemas.load(schemas.CloseTicket(), None) == {"note": None}
    assert schemas.load(schemas.CloseTicket(), {"note": "  "}) == {"note": ""}
    assert "note" in errors(schemas.load, schemas.CloseTicket(), {"note": "n" * 2001})


def test_list_params():
    assert schemas.load(schemas.ListTickets(), {}) == {
        "status": None,
        "q": None,
        "limit": 20,
        "cursor": None,
    }
    assert schemas.load(schemas.ListTickets(), {"limit": "100"})["limit"] == 100
    for bad in (0, 101, True, 2.0, "ten"):
        assert "limit" in errors(schemas.load, schemas.ListTickets(), {"limit": bad})
    admin = schemas.load(schemas.AdminListTickets(), {"assignee": "me"})
    assert admin["sort"] == "created"
    assert "sort" in errors(schemas.load, schemas.AdminListTickets(), {"sort": "oldest"})
    assert "priority" in errors(schemas.load, schemas.ListTickets(), {"priority": "high"})


def test_cursor_round_trip_and_garbage():
    cursor = paging.encode_cursor([1, 42])
    assert paging.decode_cursor(cursor, (int, int)) == [1, 42]
    assert paging.decode_cursor(None, (int,)) is None
    stamped = paging.decode_cursor(
        paging.encode_cursor(["2026-11-27T12:43:10Z", 7]), (datetime, int)
    )
    assert stamped == [datetime(2026, 11, 27, 12, 43, 10, tzinfo=UTC), 7]
    for garbage in ("!!", "e30", cursor):
        with pytest.raises(ValidationFailed):
            paging.decode_cursor(garbage, (int,))


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ([99999999999999999999999], (int,)),  # past a bigint
        ([-1], (int,)),
        ([1.5], (int,)),
        ([True], (int,)),
        (["7"], (int,)),
        ([1, 2], (int,)),
        (["2026-11-27T12:43:10", 1], (datetime, int)),  # no zone
        (["yesterday", 1], (datetime, int)),
        ([None, 1], (datetime, int)),
    ],
)
def test_a_forged_cursor_is_a_validation_error_not_a_database_error(key, shape):
    with pytest.raises(ValidationFailed) as err:
        paging.decode_cursor(paging.encode_cursor(key), shape)
    assert err.value.details == {"cursor": ["Not a valid cursor."]}


@pytest.mark.parametrize("text", ["[1e400]", "[Infinity]", "[NaN]", "[" * 5000 + "]" * 5000])
def test_a_cursor_of_unrepresentable_numbers_or_deep_nesting_is_refused(text):
    forged = base64.urlsafe_b64encode(text.encode()).decode()
    with pytest.raises(ValidationFailed):
        paging.decode_cursor(forged, (int,))
