"""``helpdesk-setup``'s administrative logins read from the environment."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, Settings
from tools.setup import access_from_env

pytestmark = pytest.mark.unit

ADMIN = "postgresql://admin:pw@shared-db:5432/postgres"
TICKETS_ADMIN = "postgresql://postgres:pw@helpdesk-tickets-db-rw:5432/postgres"


def _access(**env):
    env = {"HELPDESK_ENV": "development", **env}
    return access_from_env(env, Settings.from_env(env))


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
