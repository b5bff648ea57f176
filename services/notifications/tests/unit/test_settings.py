"""The notifications service's settings: the contract's defaults, each variable validated."""

import pytest

from services.notifications.settings import NotificationsSettings
from shared.config import ConfigError
from shared.tests.environments import LOCAL

pytestmark = pytest.mark.unit


def test_local_defaults_match_the_contract():
    s = NotificationsSettings.from_env(LOCAL)
    assert s.notifications_database_url == (
        "postgresql://root@127.0.0.1:5432/helpdesk_notifications"
    )
    assert s.notifications_instances == 1
    assert (
        NotificationsSettings.from_env(
            {**LOCAL, "HELPDESK_NOTIFICATIONS_INSTANCES": "3"}
        ).notifications_instances
        == 3
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELPDESK_NOTIFICATIONS_DATABASE_URL": "postgresql://h:5432/"}, "name a database"),
        ({"HELPDESK_NOTIFICATIONS_INSTANCES": "two"}, "HELPDESK_NOTIFICATIONS_INSTANCES"),
        (
            {
                "HELPDESK_ENV": "production",
                "HELPDESK_AMQP_URL": "amqps://n:pw@rabbitmq:5671/h",
                "HELPDESK_NOTIFICATIONS_DATABASE_URL": "postgresql://n@pg/h?sslmode=require",
            },
            "HELPDESK_NOTIFICATIONS_DATABASE_URL must be TLS-verified",
        ),
    ],
)
def test_invalid_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        NotificationsSettings.from_env({**LOCAL, **env})
