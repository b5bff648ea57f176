"""Both nameko services' entry commands: ``--check`` validates settings, and a
service without its data keys refuses to start in production with a clear message.

Serving and signal handling are tested per service, in its own ``test_main.py``.
"""

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# service -> (its database URL variable, a setting it must refuse)
SERVICES = {
    "tickets": ("HELPDESK_TICKETS_DATABASE_URL", ("HELPDESK_TICKETS_PER_DAY", "many")),
    "notifications": (
        "HELPDESK_NOTIFICATIONS_DATABASE_URL",
        ("HELPDESK_NOTIFICATIONS_DATABASE_URL", "mysql://x/y"),
    ),
}


@pytest.fixture(params=sorted(SERVICES))
def service(request, amqp_url, tickets_database_url, notifications_database_url, data_keys):
    """(command, environment, bad setting) for each service, on this session's resources."""
    name = request.param
    database_variable, bad = SERVICES[name]
    url = {"tickets": tickets_database_url, "notifications": notifications_database_url}[name]
    env = dict(
        os.environ,
        HELPDESK_ENV="test",
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_DATA_KEYS=data_keys,
        **{database_variable: url},
    )
    return [sys.executable, "-m", f"services.{name}"], env, bad


def test_check_validates_settings_and_exits(service):
    command, env, (variable, value) = service
    done = subprocess.run([*command, "--check"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0 and b"configuration ok" in done.stdout
    bad = subprocess.run(
        [*command, "--check"], env={**env, variable: value}, capture_output=True, timeout=60
    )
    assert bad.returncode == 2 and variable.encode() in bad.stderr


def test_refuses_to_start_without_data_keys(service):
    command, env, _ = service
    production = {
        **env,
        "HELPDESK_ENV": "production",
        "HELPDESK_JWT_SECRET": "p" * 40,
        "HELPDESK_DATA_KEYS": "",
    }
    done = subprocess.run(command, env=production, capture_output=True, timeout=60)
    assert done.returncode == 1
    assert b"cannot start without its data keys" in done.stderr
