"""The contract's flows for a user and for support, through gunicorn and the real services."""

import uuid

import pytest

from shared.catalog import ISSUE_TYPE_KEYS
from tests.e2e.conftest import poll

pytestmark = pytest.mark.e2e


def test_a_users_ticket_from_creation_to_close(user):
    ticket = user.made(
        "/api/v1/tickets",
        {
            "issue_type": "access",
            "feature": "account",
            "subject": "   Locked out since this morning   ",
            "description": "I cannot sign in since this morning and the reset mail never arrives. **Urgent**",
        },
    )
    assert ticket["subject"] == "Locked out since this morning"
    assert ticket["priority"] == "critical" and ticket["status"] == "open"
    assert "<strong>Urgent</strong>" in ticket["description_html"]
    assert ticket["created_at"].endswith("Z")

    listed = user.get("/api/v1/tickets").json()
    assert listed["items"][0]["id"] == ticket["id"] and "next_cursor" in listed
    for q in (str(ticket["id"]), f"#{ticket['id']}", "LOCKED OUT"):
        found = user.get("/api/v1/tickets", params={"q": q}).json()["items"]
        assert [t["id"] for t in found] == [ticket["id"]], q

    reply = user.post(f"/api/v1/tickets/{ticket['id']}/messages", {"body": "Any news? _please_"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["author"] == "user" and "<em>please</em>" in reply.json()["body_html"]

    detail = user.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert [m["body"] for m in detail["messages"]] == ["Any news? _please_"]
    assert detail["timeline"][0]["status"] == "open"

    closed = user.post(f"/api/v1/tickets/{ticket['id']}/close", {"note": "Found it myself"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_note"] == "Found it myself"
    again = user.post(f"/api/v1/tickets/{ticket['id']}/close")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    late = user.post(f"/api/v1/tickets/{ticket['id']}/messages", {"body": "one more"})
    assert late.status_code == 409
    statuses = user.get("/api/v1/tickets", params={"status": "closed"}).json()["items"]
    assert ticket["id"] in [t["id"] for t in statuses]


def test_paging_with_cursors(user):
    made = [user.create()["id"] for _ in range(3)]
    first = user.get("/api/v1/tickets", params={"limit": 2}).json()
    assert [t["id"] for t in first["items"]] == made[::-1][:2] and first["next_cursor"]
    second = user.get("/api/v1/tickets", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [t["id"] for t in second["items"]] == [made[0]] and second["next_cursor"] is None


def test_support_works_the_queue_and_the_user_sees_only_what_is_public(user, admin):
    ticket = user.create(issue_type="billing", subject="Charged twice in November")
    tid = ticket["id"]

    queue = admin.get(
        "/api/v1/admin/tickets", params={"priority": "high", "assignee": "none", "q": f"#{tid}"}
    ).json()["items"]
    assert [t["id"] for t in queue] == [tid]
    assert queue[0]["owner"]["id"] == user.sub and queue[0]["assignee"] is None
    by_priority = admin.get("/api/v1/admin/tickets", params={"sort": "priority", "limit": 100})
    assert by_priority.status_code == 200
    ranks = ["critical", "high", "medium", "low"]
    priorities = [ranks.index(t["priority"]) for t in by_priority.json()["items"]]
    assert priorities == sorted(priorities)

    assigned = admin.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": admin.sub})
    assert assigned.status_code == 200 and assigned.json()["assignee"]["id"] == admin.sub
    mine = admin.get("/api/v1/admin/tickets", params={"assignee": "me", "q": str(tid)}).json()
    assert [t["id"] for t in mine["items"]] == [tid]

    secret = f"internal-{uuid.uuid4().hex}"
    note = admin.post(f"/api/v1/admin/tickets/{tid}/messages", {"body": secret, "internal": True})
    assert note.status_code == 201 and note.json()["internal"] is True
    assert user.get(f"/api/v1/tickets/{tid}").json()["status"] == "open"  # a note moves nothing

    public = admin.post(f"/api/v1/admin/tickets/{tid}/messages", {"body": "Refund on its way."})
    assert public.status_code == 201 and public.json()["internal"] is False
    view = user.get(f"/api/v1/tickets/{tid}").json()
    assert view["status"] == "in_review"
    assert [m["body"] for m in view["messages"]] == ["Refund on its way."]
    assert secret not in str(view)
    support_view = admin.get(f"/api/v1/admin/tickets/{tid}").json()
    assert [m["internal"] for m in support_view["messages"]] == [True, False]
    assert support_view["owner"]["id"] == user.sub

    waiting = admin.post(f"/api/v1/admin/tickets/{tid}/status", {"status": "awaiting_user"})
    assert waiting.status_code == 200 and waiting.json()["status"] == "awaiting_user"
    no_note = admin.post(f"/api/v1/admin/tickets/{tid}/status", {"status": "resolved"})
    assert no_note.status_code == 422 and "resolution_note" in no_note.json()["error"]["details"]
    resolved = admin.post(
        f"/api/v1/admin/tickets/{tid}/status",
        {"status": "resolved", "resolution_note": "Refunded the duplicate charge."},
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    illegal = admin.post(f"/api/v1/admin/tickets/{tid}/status", {"status": "awaiting_user"})
    assert illegal.status_code == 409 and illegal.json()["error"]["code"] == "conflict"

    seen = user.get(f"/api/v1/tickets/{tid}").json()
    assert seen["resolution_note"] == "Refunded the duplicate charge."
    assert [s["status"] for s in seen["timeline"]] == [
        "open",
        "in_review",
        "awaiting_user",
        "resolved",
    ]

    notices = poll(
        lambda: user.get("/api/v1/notifications").json(),
        lambda page: {"support_reply", "ticket_resolved"} <= {n["kind"] for n in page["items"]},
    )
    kinds = [n["kind"] for n in notices["items"] if n["ticket_id"] == tid]
    assert sorted(kinds) == ["status_changed", "support_reply", "ticket_resolved"]
    assert secret not in str(notices)
    assert notices["unread_count"] == 3
    assert user.get("/api/v1/notifications/unread-count").json() == {"unread_count": 3}
    first = notices["items"][0]
    read = user.post(f"/api/v1/notifications/{first['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"]
    unread = user.get("/api/v1/notifications", params={"unread": "true"}).json()
    assert first["id"] not in [n["id"] for n in unread["items"]]
    assert user.post("/api/v1/notifications/read-all").json() == {"updated": 2}
    assert user.get("/api/v1/notifications/unread-count").json() == {"unread_count": 0}

    reopened = user.post(f"/api/v1/tickets/{tid}/messages", {"body": "Still charged twice."})
    assert reopened.status_code == 201
    assert user.get(f"/api/v1/tickets/{tid}").json()["status"] == "in_review"
    assignee_notices = poll(
        lambda: admin.get("/api/v1/notifications").json(),
        lambda page: "user_reply" in {n["kind"] for n in page["items"]},
    )
    assert {n["kind"] for n in assignee_notices["items"]} >= {"user_reply"}


def test_nobody_reaches_another_users_ticket_or_notice(user, other_user, admin):
    ticket = user.create()
    theirs = other_user.get(f"/api/v1/tickets/{ticket['id']}")
    missing = other_user.get("/api/v1/tickets/999999999")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    for path, body in (("messages", {"body": "hi"}), ("close", None)):
        result = other_user.post(f"/api/v1/tickets/{ticket['id']}/{path}", body)
        assert result.status_code == 404
    assert ticket["id"] not in [t["id"] for t in other_user.get("/api/v1/tickets").json()["items"]]
    admin.post(f"/api/v1/admin/tickets/{ticket['id']}/messages", {"body": "Looking into it."})
    page = poll(lambda: user.get("/api/v1/notifications").json(), lambda p: p["items"])
    notice = page["items"][0]
    stolen = other_user.post(f"/api/v1/notifications/{notice['id']}/read")
    assert stolen.status_code == 404
    # Another's notice stays unseen behind a wrong method or a bad body too (404 first).
    path = f"/api/v1/notifications/{notice['id']}/read"
    assert other_user.get(path).status_code == 404
    assert other_user.post(path, {"read": True}).status_code == 404
    assert user.get(path).status_code == 405
    assert user.post(path, {"read": True}).status_code == 422
    assert other_user.get("/api/v1/notifications").json()["items"] == []
    assert user.get("/api/v1/notifications/unread-count").json()["unread_count"] == 1


def test_catalog_preview_and_operations(stack, user):
    catalog = user.get("/api/v1/catalog").json()
    assert [t["key"] for t in catalog["issue_types"]] == list(ISSUE_TYPE_KEYS)
    assert catalog["limits"]["tickets_per_day"] == 5
    html = user.post("/api/v1/preview", {"text": "<b>x</b> *y*"}).json()["html"]
    assert "<b>" not in html and "<em>y</em>" in html
    import requests

    assert requests.get(f"{stack.base_url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{stack.base_url}/readyz", timeout=5).status_code == 200
    doc = requests.get(f"{stack.base_url}/openapi.json", timeout=5).json()
    assert doc["openapi"] == "3.1.0" and "/api/v1/admin/tickets/{id}/assign" in doc["paths"]
    metrics = requests.get(f"{stack.base_url}/metrics", timeout=5).text
    assert (
        'route="/api/v1/catalog"' in metrics and "helpdesk_http_request_duration_seconds" in metrics
    )


def test_the_request_id_is_echoed_and_reaches_the_services_logs(stack, user, admin):
    ticket = user.create()
    request_id = f"e2e-{uuid.uuid4().hex}"
    result = admin.post(
        f"/api/v1/admin/tickets/{ticket['id']}/messages",
        {"body": "Traced reply"},
        headers={"X-Request-Id": request_id},
    )
    assert result.status_code == 201 and result.headers["X-Request-Id"] == request_id
    assert poll(lambda: stack.logs("notifications"), lambda text: request_id in text)
    assert request_id in stack.logs("gateway")
    made = user.get("/api/v1/catalog").headers["X-Request-Id"]
    assert made and made != request_id
