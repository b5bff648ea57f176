"""Idempotency-Key end to end: a retried POST is answered as the first was and
nothing happens twice (real gateway, services, PostgreSQL and RabbitMQ)."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import DESCRIPTION, Api, poll, unique

pytestmark = pytest.mark.e2e

HEADER = "Idempotency-Key"


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


def ticket_body(subject: str) -> dict:
    return {
        "issue_type": "bug",
        "feature": "dashboard",
        "subject": subject,
        "description": DESCRIPTION,
    }


def kinds_for(api: Api, ticket_id: int) -> list[str]:
    items = api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
    return sorted(n["kind"] for n in items if n["ticket_id"] == ticket_id)


def test_retried_creates_make_no_second_ticket_and_spend_no_allowance(user):
    keys = [new_key() for _ in range(5)]
    bodies = [ticket_body(f"Charts stay empty, case {i}") for i in range(5)]
    firsts = [
        user.post("/api/v1/tickets", b, headers={HEADER: k})
        for k, b in zip(keys, bodies, strict=True)
    ]
    assert [r.status_code for r in firsts] == [201] * 5
    for key, body, first in zip(keys, bodies, firsts, strict=True):
        again = user.post("/api/v1/tickets", body, headers={HEADER: key})
        assert again.status_code == 201
        # "The first response again": the same bytes, not only the same JSON.
        assert again.content == first.content
        assert again.headers["Location"] == first.headers["Location"]
    listed = user.get("/api/v1/tickets", params={"limit": 100}).json()["items"]
    assert len(listed) == 5
    sixth = user.post(
        "/api/v1/tickets", ticket_body("Charts stay empty, case 6"), headers={HEADER: new_key()}
    )
    assert sixth.status_code == 429
    # A retry of a refused request is not a replay of a success: still the 429.
    again = user.post(
        "/api/v1/tickets", ticket_body("Charts stay empty, case 6"), headers={HEADER: new_key()}
    )
    assert again.status_code == 429


def test_a_retried_reply_is_one_message_and_one_notice(user, admin):
    ticket = user.create()
    tid = ticket["id"]
    assert (
        admin.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": admin.sub}).status_code
        == 200
    )
    key = new_key()
    first = user.post(
        f"/api/v1/tickets/{tid}/messages", {"body": "Still broken today."}, headers={HEADER: key}
    )
    again = user.post(
        f"/api/v1/tickets/{tid}/messages", {"body": "Still broken today."}, headers={HEADER: key}
    )
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert [m["body"] for m in user.get(f"/api/v1/tickets/{tid}").json()["messages"]] == [
        "Still broken today."
    ]
    # The assignee hears of the reply once; a second notice would come within a second.
    poll(lambda: kinds_for(admin, tid), lambda kinds: "user_reply" in kinds)
    time.sleep(1.5)
    assert kinds_for(admin, tid).count("user_reply") == 1

    # Support's reply retried: the owner gets one notice.
    reply_key = new_key()
    body = {"body": "Fixed on our side, please check."}
    for _ in range(2):
        sent = admin.post(
            f"/api/v1/admin/tickets/{tid}/messages", body, headers={HEADER: reply_key}
        )
        assert sent.status_code == 201
    poll(lambda: kinds_for(user, tid), lambda kinds: "support_reply" in kinds)
    time.sleep(1.5)
    assert kinds_for(user, tid) == ["support_reply"]


def test_the_same_key_with_another_body_is_a_422(user):
    ticket = user.create()
    key = new_key()
    path = f"/api/v1/tickets/{ticket['id']}/messages"
    assert user.post(path, {"body": "One."}, headers={HEADER: key}).status_code == 201
    other = user.post(path, {"body": "Two."}, headers={HEADER: key})
    assert other.status_code == 422
    assert HEADER in other.json()["error"]["details"]
    malformed = user.post(path, {"body": "Three."}, headers={HEADER: "x" * 256})
    assert malformed.status_code == 422 and HEADER in malformed.json()["error"]["details"]
    assert len(user.get(f"/api/v1/tickets/{ticket['id']}").json()["messages"]) == 1


def test_another_callers_key_never_matches(stack):
    key = new_key()
    alice = Api(stack, unique("user"), "user", "Alice")
    bob = Api(stack, unique("user"), "user", "Bob")
    body = ticket_body("Export button does nothing")
    mine = alice.post("/api/v1/tickets", body, headers={HEADER: key})
    theirs = bob.post("/api/v1/tickets", body, headers={HEADER: key})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert bob.get(f"/api/v1/tickets/{theirs.json()['id']}").status_code == 200


def test_ten_concurrent_repeats_act_once(user):
    ticket = user.create()
    key = new_key()
    path = f"/api/v1/tickets/{ticket['id']}/messages"

    def send(_):
        return user.request(
            "POST", path, json={"body": "Sent by an impatient client."}, headers={HEADER: key}
        )

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(send, range(10)))
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    answers = [r.json() for r in results if r.status_code == 201]
    assert answers and all(a == answers[0] for a in answers)
    assert all(r.json()["error"]["code"] == "conflict" for r in results if r.status_code == 409)
    assert len(user.get(f"/api/v1/tickets/{ticket['id']}").json()["messages"]) == 1
    # Once the first is done, a repeat is its replay.
    later = user.post(path, {"body": "Sent by an impatient client."}, headers={HEADER: key})
    assert later.status_code == 201 and later.json() == answers[0]


def test_mark_read_and_read_all_replay_their_first_answer(user, admin):
    tickets = [user.create() for _ in range(2)]
    for t in tickets:
        admin.post(f"/api/v1/admin/tickets/{t['id']}/messages", {"body": "Looking into it."})
    page = poll(lambda: user.get("/api/v1/notifications").json(), lambda p: p["unread_count"] == 2)
    notice = page["items"][0]
    key = new_key()
    first = user.post(f"/api/v1/notifications/{notice['id']}/read", headers={HEADER: key})
    again = user.post(f"/api/v1/notifications/{notice['id']}/read", headers={HEADER: key})
    assert first.status_code == again.status_code == 200 and again.json() == first.json()

    all_key = new_key()
    marked = user.post("/api/v1/notifications/read-all", headers={HEADER: all_key})
    assert marked.json() == {"updated": 1}
    admin.post(f"/api/v1/admin/tickets/{tickets[0]['id']}/messages", {"body": "One more thing."})
    poll(
        lambda: user.get("/api/v1/notifications/unread-count").json(),
        lambda c: c["unread_count"] == 1,
    )
    replay = user.post("/api/v1/notifications/read-all", headers={HEADER: all_key})
    assert replay.status_code == 200 and replay.json() == {"updated": 1}
    # The replay changed nothing: the new notice is still unread.
    assert user.get("/api/v1/notifications/unread-count").json() == {"unread_count": 1}


def test_preview_checks_the_key_and_keeps_nothing(user):
    key = new_key()
    one = user.post("/api/v1/preview", {"text": "**one**"}, headers={HEADER: key})
    two = user.post("/api/v1/preview", {"text": "**two**"}, headers={HEADER: key})
    assert one.status_code == two.status_code == 200
    assert "two" in two.json()["html"]
    assert user.post("/api/v1/preview", {"text": "x"}, headers={HEADER: ""}).status_code == 422
