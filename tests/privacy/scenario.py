"""Ticket text with a unique marker, put through a real stack over HTTP.

``seed(stack)`` creates, as a user and as support, everything that holds ticket
text: a description, the owner's replies, a public support reply, an internal
note, a resolution note and a closing note; the notifications service turns the
public ones into notices. Every piece carries ``marker`` (never the subject, which
is stored readable for search, by design). Every POST carries an Idempotency-Key,
so the answers stored for replays (which hold the same text) rest there too. It waits until every notice exists and
the outbox is drained, so a dump taken afterwards sees the resting state.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from shared.db import make_engine
from shared.key_check import count_by_format
from tests.e2e.conftest import Api, poll, unique
from tools.localrun import BIN, ROOT
from tools.rotate_keys import declared_columns


@dataclass
class Seeded:
    """What ``seed`` made: identities, ticket ids and the texts, each with the marker."""

    marker: str
    subject_marker: str
    user: Api
    admin: Api
    resolved_id: int
    closed_id: int
    texts: dict = field(default_factory=dict)


def seed(stack) -> Seeded:
    """Create ticket text of every kind through the gateway; wait for its notices."""
    marker = f"pm{uuid.uuid4().hex}"
    subject_marker = f"sm{uuid.uuid4().hex[:10]}"
    user = Api(stack, unique("private-user"), "user", "Pat Private")
    admin = Api(stack, unique("private-admin"), "admin", "Sam Support")
    texts = {
        "description": f"Since Monday the invoices page is empty for our team ({marker}-description).",
        "reply": f"It also happens on mobile ({marker}-reply)",
        "internal": f"Customer is on the legacy plan, see CRM ({marker}-internal)",
        "support": f"We are looking into the export job ({marker}-support)",
        "reply2": f"Thanks, waiting for the fix ({marker}-reply2)",
        "resolution": f"The export job was fixed and re-run ({marker}-resolution)",
        "closed": f"Opened by mistake ({marker}-closed)",
        "description2": f"Duplicate of my other ticket, sorry about that ({marker}-description2).",
    }

    def keyed() -> dict:
        return {"headers": {"Idempotency-Key": uuid.uuid4().hex}}

    ticket = user.create(
        **keyed(),
        issue_type="billing",
        subject=f"Invoices page empty {subject_marker}",
        description=texts["description"],
    )
    tid = ticket["id"]

    def ok(response, status=200):
        assert response.status_code == status, response.text
        return response.json()

    ok(user.post(f"/api/v1/tickets/{tid}/messages", {"body": texts["reply"]}, **keyed()), 201)
    ok(
        admin.post(
            f"/api/v1/admin/tickets/{tid}/messages",
            {"body": texts["internal"], "internal": True},
            **keyed(),
        ),
        201,
    )
    ok(
        admin.post(f"/api/v1/admin/tickets/{tid}/messages", {"body": texts["support"]}, **keyed()),
        201,
    )
    ok(
        admin.post(
            f"/api/v1/admin/tickets/{tid}/assign",
            {"assignee_id": admin.sub},
            **keyed(),
        )
    )
    ok(user.post(f"/api/v1/tickets/{tid}/messages", {"body": texts["reply2"]}, **keyed()), 201)
    ok(
        admin.post(
            f"/api/v1/admin/tickets/{tid}/status",
            {"status": "resolved", "resolution_note": texts["resolution"]},
            **keyed(),
        )
    )
    other = user.create(
        **keyed(), subject="Please ignore this one", description=texts["description2"]
    )
    ok(user.post(f"/api/v1/tickets/{other['id']}/close", {"note": texts["closed"]}, **keyed()))

    seeded = Seeded(marker, subject_marker, user, admin, tid, other["id"], texts)
    wait_for_notices(seeded)
    wait_for_outbox(stack)
    return seeded


def notice_bodies(api: Api) -> list[str]:
    """Bodies of every notice ``api``'s identity has (one page is plenty here)."""
    response = api.get("/api/v1/notifications", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [n["body"] for n in response.json()["items"]]


def wait_for_notices(seeded: Seeded) -> None:
    """Until the owner has the support reply and resolution, and support the reply."""
    texts = seeded.texts

    def has(api, wanted):
        return lambda bodies: all(any(w in b for b in bodies) for w in wanted)

    wanted_user = [texts["support"], texts["resolution"]]
    got = poll(lambda: notice_bodies(seeded.user), has(seeded.user, wanted_user), timeout=20)
    assert has(seeded.user, wanted_user)(got), got
    wanted_admin = [texts["reply2"][:40]]
    got = poll(lambda: notice_bodies(seeded.admin), has(seeded.admin, wanted_admin), timeout=20)
    assert has(seeded.admin, wanted_admin)(got), got


def wait_for_outbox(stack, timeout: float = 20.0) -> None:
    """Until the tickets service published every event it wrote."""

    def unpublished():
        return scalar(
            stack.env["HELPDESK_TICKETS_DATABASE_URL"],
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        )

    assert poll(unpublished, lambda n: n == 0, timeout=timeout) == 0


def scalar(url: str, sql: str, **params):
    """One value from one query on ``url``."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as db:
            return db.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params) -> None:
    """Run one statement on ``url`` and commit it."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as db:
            db.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def sealed_rows(db, column) -> list:
    """Every stored value of ``column`` (``v``) with its row's ``id`` and bound context."""
    selected = ", ".join([f"{column.id_column} AS id", f"{column.value} AS v", *column.context])
    return db.execute(
        sa.text(f"SELECT {selected} FROM {column.table} WHERE {column.value} IS NOT NULL")
    ).all()


@contextlib.contextmanager
def replies_meanwhile(seeded: Seeded, what: str, most: int = 40):
    """Post the owner's replies while the block runs; yields (written, failures)."""
    written, failures, done = [], [], threading.Event()

    def keep_writing():
        while not done.is_set() and len(written) < most:
            text = f"written during {what} {len(written)} {seeded.marker}"
            response = seeded.user.post(
                f"/api/v1/tickets/{seeded.resolved_id}/messages", {"body": text}
            )
            (written if response.status_code == 201 else failures).append(
                text if response.status_code == 201 else response.text
            )
            time.sleep(0.02)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        yield written, failures
    finally:
        done.set()
        writer.join()


def pg_dump(url: str) -> str:
    """The whole database as ``pg_dump`` writes it (schema and data, plain SQL)."""
    return subprocess.run(
        ["pg_dump", "--no-owner", f"--dbname={url}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


SERVICES = ("tickets", "notifications")


def restart_services(stack, keys: str | None = None, **env) -> None:
    """Restart both services with ``keys`` (``HELPDESK_DATA_KEYS``) and ``env`` set."""
    if keys is not None:
        stack.env["HELPDESK_DATA_KEYS"] = keys
    stack.env.update(env)
    for service in SERVICES:
        stack.stop(service)
        stack.start(service)
    stack.wait_ready()


def rotate_keys(stack, *args) -> subprocess.CompletedProcess:
    """``helpdesk-rotate-keys *args`` with the stack's settings."""
    return subprocess.run(
        [str(BIN / "helpdesk-rotate-keys"), *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


DATABASES = {
    "tickets": "HELPDESK_TICKETS_DATABASE_URL",
    "notifications": "HELPDESK_NOTIFICATIONS_DATABASE_URL",
}


def formats_in_use(stack) -> dict:
    """``{(binding version, key_id): values}`` over every declared encrypted column
    of both services."""
    totals: dict = {}
    for service, var in DATABASES.items():
        engine = make_engine(stack.env[var], pool_size=1)
        try:
            with engine.connect() as db:
                for column in declared_columns(service):
                    for found, n in count_by_format(db, column).items():
                        totals[found] = totals.get(found, 0) + n
        finally:
            engine.dispose()
    return totals


def keys_in_use(stack) -> dict:
    """``{key_id: values}`` over every declared encrypted column of both services."""
    totals: dict = {}
    for (_, key_id), n in formats_in_use(stack).items():
        totals[key_id] = totals.get(key_id, 0) + n
    return totals


def read_back(seeded: Seeded) -> None:
    """Every text comes back intact through the API to those allowed to read it."""
    texts, user, admin = seeded.texts, seeded.user, seeded.admin
    mine = user.get(f"/api/v1/tickets/{seeded.resolved_id}")
    assert mine.status_code == 200, mine.text
    mine = mine.json()
    assert mine["description"] == texts["description"]
    assert mine["resolution_note"] == texts["resolution"]
    # (Later tests may add replies after these.)
    assert [m["body"] for m in mine["messages"]][:3] == [
        texts["reply"],
        texts["support"],
        texts["reply2"],
    ]
    assert texts["internal"] not in str(mine)  # internal notes never reach the owner
    support = admin.get(f"/api/v1/admin/tickets/{seeded.resolved_id}")
    assert support.status_code == 200, support.text
    support_view = [(m["body"], m["internal"]) for m in support.json()["messages"]]
    assert support_view[:4] == [
        (texts["reply"], False),
        (texts["internal"], True),
        (texts["support"], False),
        (texts["reply2"], False),
    ]
    closed = user.get(f"/api/v1/tickets/{seeded.closed_id}").json()
    assert closed["closed_note"] == texts["closed"]
    assert closed["description"] == texts["description2"]
    owner_notices = "\n".join(notice_bodies(user))
    assert texts["support"] in owner_notices and texts["resolution"] in owner_notices
    assert texts["internal"] not in owner_notices
    assert texts["reply2"][:40] in "\n".join(notice_bodies(admin))
