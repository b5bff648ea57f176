"""The backup drill: dump a running stack's databases with the shipped backup script,
restore them into fresh databases as docs/operations.md says, start the services on
the restored data with the same data keys, and read every ticket and notice back
through the API. Without those keys the restored data cannot be read: the services
refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Api, poll, unique
from tests.stack import BASE_PG, Stack, delete_vhost, discard_stack, isolated_stack
from tools.localrun import ROOT
from tools.migrate import drop_database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BACKUP = ROOT / "deploy" / "backup" / "backup.sh"
SERVICES = ("tickets", "notifications")


def _pg_env() -> dict:
    """libpq's variables for the local server (BASE_PG: postgresql://user@host:port)."""
    userinfo, _, hostport = BASE_PG.split("://", 1)[1].rpartition("@")
    host, _, port = hostport.partition(":")
    return {"PGHOST": host, "PGPORT": port or "5432", "PGUSER": userinfo or "root"}


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def run_backup(databases: list[str], directory: Path, keep: int = 14) -> list[Path]:
    env = {
        **os.environ,
        **_pg_env(),
        "HELPDESK_BACKUP_DATABASES": " ".join(databases),
        "HELPDESK_BACKUP_DIR": str(directory),
        "HELPDESK_BACKUP_KEEP": str(keep),
    }
    result = subprocess.run(
        ["sh", str(BACKUP), "once"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return sorted(directory.glob("*.dump"))


def restore(dump: Path, database: str) -> None:
    """As docs/operations.md restores: a new database, pg_restore without owners."""
    env = {**os.environ, **_pg_env()}
    subprocess.run(["createdb", database], env=env, check=True, timeout=60)
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", database, str(dump)],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )


def everything_read(stack, users, admin_sub) -> dict:
    """Every ticket (owner's view and support's, internal notes included) and every
    notice of every user, as the API gives them."""
    admin = Api(stack, admin_sub, "admin", "Sam Support")
    seen = {}
    for sub in users:
        user = Api(stack, sub, "user", sub)
        tickets = user.get("/api/v1/tickets").json()["items"]
        for ticket in tickets:
            own = user.get(f"/api/v1/tickets/{ticket['id']}")
            support = admin.get(f"/api/v1/admin/tickets/{ticket['id']}")
            assert own.status_code == support.status_code == 200, (own.text, support.text)
            seen[("ticket", ticket["id"])] = (own.json(), support.json())
        notices = user.get("/api/v1/notifications").json()
        seen[("notices", sub)] = notices
    return seen


@pytest.fixture
def source(run_id):
    stack = isolated_stack(f"bk{run_id}")
    stack.start()
    stack.wait_ready()
    yield stack
    discard_stack(stack)


def test_a_backup_restores_with_its_keys_and_only_with_them(source, run_id, tmp_path):
    users = [unique("user") for _ in range(2)]
    admin_sub = unique("admin")
    admin = Api(source, admin_sub, "admin", "Sam Support")
    for sub in users:
        user = Api(source, sub, "user", sub)
        for n in range(2):
            ticket = user.create(subject=f"Invoices do not export {n}")
            # A support reply (a notice), an internal note (none), a resolution (a notice).
            for body, internal in (("Looking into it now.", False), ("Customer on plan B", True)):
                r = admin.post(
                    f"/api/v1/admin/tickets/{ticket['id']}/messages",
                    {"body": body, "internal": internal},
                )
                assert r.status_code == 201, r.text
            r = admin.post(
                f"/api/v1/admin/tickets/{ticket['id']}/status",
                {"status": "resolved", "resolution_note": "Fixed in the exporter."},
            )
            assert r.status_code == 200, r.text
        poll(
            lambda user=user: user.get("/api/v1/notifications").json()["items"],
            lambda items: len(items) >= 4,
            timeout=20,
        )
    before = everything_read(source, users, admin_sub)
    assert len([k for k in before if k[0] == "ticket"]) == 4

    # The shipped script, notifications first; then the source is gone.
    names = [
        _database(source.env[f"HELPDESK_{s.upper()}_DATABASE_URL"]) for s in reversed(SERVICES)
    ]
    dumps = run_backup(names, tmp_path)
    assert [d.name.rsplit("-", 1)[0] for d in dumps] == sorted(names)
    keys = source.env["HELPDESK_DATA_KEYS"]
    source.close()

    tag = f"rs{run_id}"
    restored = {}
    for service in SERVICES:
        database = f"helpdesk_{tag}_{service}"
        (dump,) = [d for d in dumps if d.name.startswith(f"helpdesk_bk{run_id}_{service}-")]
        restore(dump, database)
        restored[service] = f"{BASE_PG}/{database}"
    try:
        # Without the keys the restored rows are unreadable: the service says so and stops.
        refused = subprocess.run(
            [str(Path(sys.executable).parent / "helpdesk-tickets")],
            env={
                **{k: v for k, v in source.env.items() if k != "HELPDESK_DATA_KEYS"},
                "HELPDESK_TICKETS_DATABASE_URL": restored["tickets"],
                "HELPDESK_DATA_KEYS": "t2=" + keys.split("=", 1)[1][::-1],
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "needs data keys that are not configured ('t1'" in refused.stderr, refused.stderr[
            -2000:
        ]

        # With them, a stack on the restored databases (and a fresh broker) reads it all.
        from tests.stack import create_vhost

        target = Stack(
            tag,
            {
                "HELPDESK_AMQP_URL": create_vhost(tag),
                "HELPDESK_TICKETS_DATABASE_URL": restored["tickets"],
                "HELPDESK_NOTIFICATIONS_DATABASE_URL": restored["notifications"],
                "HELPDESK_DATA_KEYS": keys,
            },
        )
        try:
            target.start()
            target.wait_ready()
            after = everything_read(target, users, admin_sub)
        finally:
            target.close()
            delete_vhost(target.env["HELPDESK_AMQP_URL"])
        assert after == before
    finally:
        for url in restored.values():
            drop_database(url)


def test_the_backup_keeps_the_newest_dumps_only(source, tmp_path):
    database = _database(source.env["HELPDESK_NOTIFICATIONS_DATABASE_URL"])
    (tmp_path / f"{database}-20200101T000000Z.dump").write_bytes(b"old")
    (tmp_path / f"{database}-20200102T000000Z.dump").write_bytes(b"old")
    dumps = run_backup([database], tmp_path, keep=2)
    assert len(dumps) == 2
    assert dumps[0].name == f"{database}-20200102T000000Z.dump"
    assert dumps[1].stat().st_size > 1000 and not list(tmp_path.glob("*.partial"))
