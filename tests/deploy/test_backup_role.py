"""The backup service's read-only database role, made by ``helpdesk-setup``, for real.

The real set-up command runs against the real PostgreSQL (and a throwaway vhost of
the shared RabbitMQ, for the topology it declares), first without
``HELPDESK_BACKUP_DATABASE_URL`` and then with it; the role it makes then dumps each
service database with ``deploy/backup/backup.sh`` and the ``pg_dump`` of the server's
own major version, and is refused every change. The server here trusts local
connections, so the password is checked against the role's stored SCRAM verifier.
Everything is dropped afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors

from tests.deploy.conftest import ROOT, run_setup
from tests.stack import BASE_PG, create_vhost, delete_vhost
from tools.migrate import drop_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TAG = uuid.uuid4().hex[:8]
PG = urlsplit(BASE_PG)
ADMIN = f"{BASE_PG}/postgres"
ROLE = f"hk{TAG}_backup"
SERVICES = ("tickets", "notifications")
DATABASES = {service: f"helpdesk_bk{TAG}_{service}" for service in SERVICES}
BACKUP = ROOT / "deploy" / "backup" / "backup.sh"


def _set_up(env: dict) -> str:
    """The set-up command, run as the compose service runs it; its stderr."""
    return run_setup(env).stderr


def _backup_url(password: str) -> str:
    return f"postgresql://{ROLE}:{password}@{PG.hostname}:{PG.port or 5432}/postgres"


def _role() -> tuple | None:
    """The backup role's attributes, memberships and databases it may connect to."""
    with psycopg.connect(ADMIN) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls, rolinherit FROM pg_roles WHERE rolname = %s",
            (ROLE,),
        ).fetchone()
        if row is None:
            return None
        member_of = conn.execute(
            "SELECT array_agg(g.rolname ORDER BY g.rolname) FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
            "WHERE r.rolname = %s",
            (ROLE,),
        ).fetchone()[0]
        connects = {
            service: conn.execute(
                "SELECT has_database_privilege(%s, %s, 'CONNECT')", (ROLE, database)
            ).fetchone()[0]
            for service, database in DATABASES.items()
        }
    return row, member_of, connects


# LOGIN, and none of superuser, createdb, createrole, replication, bypassrls; INHERIT.
READ_ONLY = ((True, False, False, False, False, False, True), ["pg_read_all_data"])


def _password_is(password: str) -> bool:
    """Whether the role's stored SCRAM-SHA-256 verifier is ``password``'s (RFC 5802)."""
    with psycopg.connect(ADMIN) as conn:
        (stored,) = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (ROLE,)
        ).fetchone()
    method, rest = stored.split("$", 1)
    assert method == "SCRAM-SHA-256", method
    counted_salt, keys = rest.split("$")
    iterations, salt = counted_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


def _libpq(password: str) -> dict:
    """The backup service's environment against this server, with ``pg_dump`` of the
    server's own major version first on the path."""
    with psycopg.connect(ADMIN) as conn:
        major = conn.info.server_version // 10000
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    assert (bindir / "pg_dump").exists(), f"no pg_dump {major} in {bindir}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "HELPDESK_"))}
    return {
        **env,
        "PATH": f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}",
        "PGHOST": PG.hostname,
        "PGPORT": str(PG.port or 5432),
        "PGUSER": ROLE,
        "PGPASSWORD": password,
        "PGDATABASE": "postgres",
    }


def _read_dump(libpq: dict, *args) -> str:
    """What ``pg_restore *args`` (of the server's version) prints from a dump file."""
    return subprocess.run(
        ["pg_restore", *map(str, args)], env=libpq, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def deployment():
    """The set-up step's environment (no backup URL yet); everything dropped after."""
    broker = create_vhost(f"bk{TAG}")
    env = {
        "HELPDESK_ENV": "test",
        "HELPDESK_AMQP_URL": broker,
        "HELPDESK_POSTGRES_ADMIN_URL": ADMIN,
        # Another administrator's URL for the notifications database (the same server
        # here): the backup role is made once per administrator, for its databases.
        "HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL": f"{ADMIN}?application_name=bk{TAG}",
    }
    for service, database in DATABASES.items():
        env[f"HELPDESK_{service.upper()}_DATABASE_URL"] = (
            f"postgresql://hk{TAG}_{service}:{secrets.token_hex(8)}@{PG.netloc.rsplit('@', 1)[-1]}"
            f"/{database}"
        )
    try:
        yield env
    finally:
        for database in DATABASES.values():
            drop_database(f"{BASE_PG}/{database}")
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            for role in (ROLE, *(f"hk{TAG}_{service}" for service in SERVICES)):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        delete_vhost(broker)


@pytest.fixture(scope="module")
def backed_up(deployment):
    """Set up without the backup URL, then with it: (env, role before, stderr)."""
    _set_up(deployment)
    before = _role()
    env = {**deployment, "HELPDESK_BACKUP_DATABASE_URL": _backup_url(secrets.token_hex(12))}
    return env, before, _set_up(env)


def _password(env: dict) -> str:
    return urlsplit(env["HELPDESK_BACKUP_DATABASE_URL"]).password


def test_set_up_makes_the_read_only_backup_role_only_when_given_its_url(backed_up):
    env, before, stderr = backed_up
    assert before is None
    attributes, member_of, connects = _role()
    assert (attributes, member_of) == READ_ONLY
    assert connects == {"tickets": True, "notifications": True}
    assert _password_is(_password(env))
    for database in DATABASES.values():
        assert f": {database}\n" in stderr  # once per administrator, with its database


def test_the_backup_role_dumps_each_database_with_the_backup_script(backed_up, tmp_path):
    env, _, _ = backed_up
    libpq = _libpq(_password(env))
    result = subprocess.run(
        ["sh", str(BACKUP), "once"],
        env={
            **libpq,
            "HELPDESK_BACKUP_DIR": str(tmp_path),
            "HELPDESK_BACKUP_DATABASES": " ".join(DATABASES.values()),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tables = {"tickets": "tickets", "notifications": "notices"}
    for service, database in DATABASES.items():
        (dump,) = tmp_path.glob(f"{database}-*.dump")
        listed = _read_dump(libpq, "--list", dump)
        assert f"TABLE DATA public {tables[service]} " in listed, listed
        # Rows too, not only the schema: the migrations' version, as the database has it.
        with psycopg.connect(f"{BASE_PG}/{database}") as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        data = _read_dump(libpq, "--data-only", "--table=alembic_version", "--file=-", dump)
        assert f"\n{version}\n" in data, data


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO alembic_version VALUES ('planted')",
        "UPDATE alembic_version SET version_num = 'planted'",
        "DELETE FROM alembic_version",
        "TRUNCATE alembic_version",
        "CREATE TABLE public.planted (id int)",
        "CREATE TEMP TABLE planted (id int)",
        "CREATE SCHEMA planted",
        "CREATE DATABASE planted",
        "CREATE ROLE planted",
    ],
)
def test_the_backup_role_reads_and_changes_nothing(backed_up, statement):
    env, _, _ = backed_up
    for database in DATABASES.values():
        url = f"postgresql://{ROLE}:{_password(env)}@{PG.hostname}:{PG.port or 5432}/{database}"
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_running_set_up_again_resets_the_backup_role(backed_up, tmp_path):
    env, _, _ = backed_up
    # Every deployment runs it again: nothing changes.
    _set_up(env)
    assert _role()[:2] == READ_ONLY
    assert _password_is(_password(env))
    # A role someone widened, and a new password in .env: both back to what setup says.
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{ROLE}" CREATEDB CREATEROLE NOINHERIT')
    changed = {**env, "HELPDESK_BACKUP_DATABASE_URL": _backup_url(secrets.token_hex(12))}
    _set_up(changed)
    attributes, member_of, connects = _role()
    assert (attributes, member_of) == READ_ONLY
    assert connects == {"tickets": True, "notifications": True}
    assert _password_is(_password(changed)) and not _password_is(_password(env))
    dumped = subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            f"--dbname={DATABASES['tickets']}",
            f"--file={tmp_path / 'd'}",
        ],
        env=_libpq(_password(changed)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
