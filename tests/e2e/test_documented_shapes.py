"""Real answers have exactly the shapes the OpenAPI document promises.

The document's response schemas (``services.gateway.schemas``) are loaded against
what the real services return, so a field added, renamed or retyped on either side
fails here.
"""

import pytest
from marshmallow import ValidationError

from services.gateway import schemas
from tests.e2e.conftest import poll

pytestmark = pytest.mark.e2e


def _conforms(schema_cls, body):
    try:
        schema_cls().load(body)
    except ValidationError as exc:
        pytest.fail(f"{schema_cls.__name__}: {exc.messages}\n{body}")


def test_every_answer_matches_its_documented_schema(user, admin):
    created = user.create(issue_type="data")
    tid = created["id"]
    _conforms(schemas.Ticket, created)
    _conforms(schemas.TicketPage, user.get("/api/v1/tickets").json())
    _conforms(
        schemas.Message, user.post(f"/api/v1/tickets/{tid}/messages", {"body": "More."}).json()
    )
    _conforms(schemas.Ticket, user.get(f"/api/v1/tickets/{tid}").json())
    _conforms(schemas.AdminTicketPage, admin.get("/api/v1/admin/tickets").json())
    note = admin.post(f"/api/v1/admin/tickets/{tid}/messages", {"body": "Note", "internal": True})
    _conforms(schemas.AdminMessage, note.json())
    admin.post(f"/api/v1/admin/tickets/{tid}/messages", {"body": "Public answer."})
    _conforms(
        schemas.AdminTicket,
        admin.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": admin.sub}).json(),
    )
    _conforms(
        schemas.AdminTicket,
        admin.post(
            f"/api/v1/admin/tickets/{tid}/status",
            {"status": "resolved", "resolution_note": "Fixed for good."},
        ).json(),
    )
    _conforms(schemas.AdminTicket, admin.get(f"/api/v1/admin/tickets/{tid}").json())
    _conforms(schemas.Ticket, user.post(f"/api/v1/tickets/{tid}/close", {"note": "Thanks"}).json())
    page = poll(lambda: user.get("/api/v1/notifications").json(), lambda p: p["items"])
    _conforms(schemas.NoticePage, page)
    _conforms(schemas.UnreadCount, user.get("/api/v1/notifications/unread-count").json())
    _conforms(
        schemas.Notice, user.post(f"/api/v1/notifications/{page['items'][0]['id']}/read").json()
    )
    _conforms(schemas.Updated, user.post("/api/v1/notifications/read-all").json())
    _conforms(schemas.Catalog, user.get("/api/v1/catalog").json())
    _conforms(schemas.PreviewResult, user.post("/api/v1/preview", {"text": "*x*"}).json())
    _conforms(schemas.Error, user.get("/api/v1/tickets/999999999").json())
