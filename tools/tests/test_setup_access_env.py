"""``helpdesk-setup``'s administrative logins read from the environment."""

from __future__ import annotations

import pytest

from shared.config import ConfigError
from tools import registry
from tools.setup import access_from_env

pytestmark = pytest.mark.unit

ADMIN = "postgresql://admin:pw@shared-db:5432/postgres"
TICKETS_ADMIN = "postgresql://postgres:pw@helpdesk-tickets-db-rw:5432/postgres"


def _access(**env):
    env = {"HELPDESK_ENV": "development", **env}
    return access_from_env(env, registry.settings_from_env(env))


def test_a_service_admin_url_wins_for_that_service_only():
    access = _access(
        HELPDESK_POSTGRES_ADMIN_URL=ADMIN, HELPDESK_TICKETS_POSTGRES_ADMIN_URL=TICKETS_ADMIN
    )
    assert access.postgres_admin_for("tickets") == TICKETS_ADMIN
    assert access.postgres_admin_for("notifications") == ADMIN


def test_service_admin_urls_alone_leave_the_other_services_without_one():
    access = _access(HELPDESK_TICKETS_POSTGRES_ADMIN_URL=TICKETS_ADMIN)
    assert access.postgres_admin_for("tickets") == TICKETS_ADMIN
    assert access.postgres_admin_for("notifications") is None


def test_a_service_admin_url_that_is_not_postgresql_is_refused_by_name():
    with pytest.raises(ConfigError, match="HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL"):
        _access(HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL="mysql://root@db/x")


BACKUP = "postgresql://helpdesk_backup:pw@shared-db:5432/postgres"


def test_no_backup_url_makes_no_backup_login():
    assert _access(HELPDESK_POSTGRES_ADMIN_URL=ADMIN).backup_url is None


def test_a_backup_url_is_kept_when_every_database_has_an_administrator():
    access = _access(HELPDESK_POSTGRES_ADMIN_URL=ADMIN, HELPDESK_BACKUP_DATABASE_URL=BACKUP)
    assert access.backup_url == BACKUP
    both = _access(
        HELPDESK_TICKETS_POSTGRES_ADMIN_URL=TICKETS_ADMIN,
        HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL=ADMIN,
        HELPDESK_BACKUP_DATABASE_URL=BACKUP,
    )
    assert both.backup_url == BACKUP


@pytest.mark.parametrize(
    "url",
    [
        "mysql://helpdesk_backup:pw@shared-db/postgres",
        "postgresql://helpdesk_backup@shared-db/postgres",  # no password
        "postgresql://:pw@shared-db/postgres",  # no role
        "shared-db:5432",
    ],
)
def test_a_backup_url_without_role_and_password_is_refused_by_name(url):
    with pytest.raises(ConfigError, match="HELPDESK_BACKUP_DATABASE_URL must be postgresql://"):
        _access(HELPDESK_POSTGRES_ADMIN_URL=ADMIN, HELPDESK_BACKUP_DATABASE_URL=url)


def test_a_backup_url_needs_an_administrator_for_every_service_database():
    with pytest.raises(ConfigError, match="HELPDESK_BACKUP_DATABASE_URL needs .*notifications"):
        _access(
            HELPDESK_TICKETS_POSTGRES_ADMIN_URL=TICKETS_ADMIN,
            HELPDESK_BACKUP_DATABASE_URL=BACKUP,
        )


@pytest.mark.parametrize(
    "role, env",
    [
        ("admin", {}),  # would lose superuser
        ("postgres", {"HELPDESK_TICKETS_POSTGRES_ADMIN_URL": TICKETS_ADMIN}),
        (
            "helpdesk_tickets",  # would read every database
            {
                "HELPDESK_TICKETS_DATABASE_URL": "postgresql://helpdesk_tickets:t@db/helpdesk_tickets"
            },
        ),
    ],
)
def test_a_backup_url_naming_an_administrator_or_service_role_is_refused(role, env):
    with pytest.raises(ConfigError, match=f"HELPDESK_BACKUP_DATABASE_URL must name .*'{role}'"):
        _access(
            HELPDESK_POSTGRES_ADMIN_URL=ADMIN,
            HELPDESK_BACKUP_DATABASE_URL=f"postgresql://{role}:pw@shared-db:5432/postgres",
            **env,
        )
