"""A ticket's view stays bounded however long its thread: the latest messages, then pages."""

import pytest

pytestmark = pytest.mark.e2e


def test_the_view_holds_the_latest_fifty_and_pages_reach_the_first(user, other_user, admin):
    ticket = user.create()
    tid = ticket["id"]
    for i in range(64):
        body = {"body": f"support {i}", "internal": i % 8 == 0}
        assert admin.post(f"/api/v1/admin/tickets/{tid}/messages", body).status_code == 201
    public = [f"support {i}" for i in range(64) if i % 8]  # 56 public

    view = user.get(f"/api/v1/tickets/{tid}").json()
    assert "messages" in view, view
    assert [m["body"] for m in view["messages"]] == public[-50:]
    assert view["earlier_messages"] == 6
    page = user.get(
        f"/api/v1/tickets/{tid}/messages",
        params={"before": view["messages"][0]["id"], "limit": 50},
    )
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert [m["body"] for m in page.json()["items"]] == public[:6]
    assert page.json()["earlier_messages"] == 0

    support = admin.get(f"/api/v1/admin/tickets/{tid}").json()
    assert support["earlier_messages"] == 14
    pages, before = [], support["messages"][0]["id"]
    while True:
        result = admin.get(
            f"/api/v1/admin/tickets/{tid}/messages", params={"before": before, "limit": 5}
        ).json()
        pages = result["items"] + pages
        if not result["earlier_messages"]:
            break
        before = result["items"][0]["id"]
    assert [m["body"] for m in pages + support["messages"]] == [f"support {i}" for i in range(64)]
    assert [m["internal"] for m in pages][:2] == [True, False]

    # Someone else's ticket is a 404 before any query error; bad queries 400 and 422.
    path = f"/api/v1/tickets/{tid}/messages"
    assert other_user.get(path).status_code == 404
    assert other_user.get(path, params={"limit": "x"}).status_code == 404
    assert user.get(path, params={"before": "x"}).status_code == 400
    assert user.get(path, params={"limit": 0}).status_code == 422
    assert user.get(path, params={"limit": 101}).status_code == 422
    assert user.get(f"/api/v1/admin/tickets/{tid}/messages").status_code == 403
