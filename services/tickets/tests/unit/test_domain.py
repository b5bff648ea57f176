"""The ticket rules on their own: no database, no broker."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.tickets import domain
from shared.catalog import ISSUE_TYPES, STATUS_KEYS

pytestmark = pytest.mark.unit

# The contract's table, written out independently of domain.TRANSITIONS.
ALLOWED = {
    ("open", "in_review"),
    ("open", "awaiting_user"),
    ("open", "resolved"),
    ("open", "closed"),
    ("in_review", "awaiting_user"),
    ("in_review", "resolved"),
    ("in_review", "closed"),
    ("awaiting_user", "in_review"),
    ("awaiting_user", "resolved"),
    ("awaiting_user", "closed"),
    ("resolved", "in_review"),
    ("resolved", "closed"),
}


@pytest.mark.parametrize("current,target", list(itertools.product(STATUS_KEYS, repeat=2)))
def test_transition_table_exhaustively(current, target):
    allowed = (current, target) in ALLOWED
    assert domain.can_transition(current, target) is allowed
    if allowed:
        domain.check_transition(current, target)
    else:
        with pytest.raises(domain.ConflictError):
            domain.check_transition(current, target)


def test_closed_is_final():
    assert domain.TRANSITIONS["closed"] == frozenset()
    with pytest.raises(domain.ConflictError):
        domain.check_open_for_messages("closed")
    with pytest.raises(domain.ConflictError):
        domain.check_closable("closed")
    for status in STATUS_KEYS[:-1]:
        domain.check_open_for_messages(status)
        domain.check_closable(status)


@pytest.mark.parametrize(
    "issue_type,priority",
    [
        ("access", "critical"),
        ("bug", "high"),
        ("billing", "high"),
        ("data", "medium"),
        ("other", "low"),
    ],
)
def test_priority_from_issue_type(issue_type, priority):
    assert domain.priority_for(issue_type) == priority


def test_every_issue_type_has_a_ranked_priority():
    ranks = [domain.PRIORITY_RANK[domain.priority_for(t["key"])] for t in ISSUE_TYPES]
    assert ranks == [0, 1, 1, 2, 3]


@pytest.mark.parametrize(
    "status,expected",
    [
        ("open", None),
        ("in_review", None),
        ("awaiting_user", "in_review"),
        ("resolved", "in_review"),
        ("closed", None),
    ],
)
def test_owner_reply_moves(status, expected):
    assert domain.status_after_owner_reply(status) == expected


@pytest.mark.parametrize("status", STATUS_KEYS)
@pytest.mark.parametrize("internal", [True, False])
def test_support_message_moves_only_open_on_public_reply(status, internal):
    expected = "in_review" if status == "open" and not internal else None
    assert domain.status_after_support_message(status, internal) == expected


@pytest.mark.parametrize(
    "q,expected",
    [
        ("1042", ("id", 1042)),
        ("#1042", ("id", 1042)),
        ("  #7 ", ("id", 7)),
        ("# 7", ("subject", "# 7")),
        ("1042a", ("subject", "1042a")),
        ("\u0661\u0662", ("subject", "\u0661\u0662")),  # Arabic-Indic digits are text
        ("#\uff11\uff12", ("subject", "#\uff11\uff12")),  # so are full-width ones
        ("#" + "9" * 30, ("id", None)),
        ("Printer", ("subject", "Printer")),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_parse_search(q, expected):
    assert domain.parse_search(q) == expected


def test_like_pattern_takes_wildcards_literally():
    assert domain.like_pattern("100%_a\\b") == "%100\\%\\_a\\\\b%"


def test_actor_problems():
    assert domain.actor_problems({"id": "u1", "name": None, "role": "user"}) == []
    assert domain.actor_problems({"id": "a1", "role": "admin"}) == []
    assert len(domain.actor_problems({"id": 5, "name": 3, "role": "root"})) == 3
    # NUL cannot be stored, a lone surrogate cannot be encoded: neither names anyone.
    assert len(domain.actor_problems({"id": "u\x001", "name": "A\ud800", "role": "user"})) == 2
    assert domain.actor_problems("u1") != []


def test_reply_allowed_again_when_the_nth_latest_leaves_the_window():
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    assert domain.reply_allowed_at(None, now) is None  # fewer than the limit
    assert domain.reply_allowed_at(now - timedelta(hours=1), now) is None  # just left
    inside = now - timedelta(minutes=59, seconds=30)
    assert domain.reply_allowed_at(inside, now) == now + timedelta(seconds=30)
