"""Both nameko services' entry commands: ``--check`` validates settings and data keys,
and a service without its data keys refuses to start in production with one clear line.

Serving and signal handling are tested per service, in its own ``test_main.py``.
"""

import os
import subprocess

import pytest

from tools.localrun import BIN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# service -> a setting of its own it must refuse
SERVICES = {
    "tickets": ("HELPDESK_TICKETS_PER_DAY", "many"),
    "notifications": ("HELPDESK_NOTIFICATIONS_DATABASE_URL", "mysql://x/y"),
}


@pytest.fixture(params=sorted(SERVICES))
def service(request, process_env):
    """(command, environment, bad setting) for each service, on this session's resources."""
    name = request.param
    return [str(BIN / f"helpdesk-{name}")], process_env, SERVICES[name]


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
        "HELPDESK_ALLOW_UNVERIFIED_TRANSPORT": "true",  # the local broker and database
        "HELPDESK_DATA_KEYS": "",
    }
    done = subprocess.run(command, env=production, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"configuration error: no data keys: set HELPDESK_DATA_KEYS" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    "keys, reason",
    [
        ({"HELPDESK_DATA_KEYS": "garbage"}, b"HELPDESK_DATA_KEYS"),
        ({"HELPDESK_DATA_KEYS": "", "HELPDESK_DATA_KEY_FILE": "/nonexistent"}, b"unreadable"),
        ({"HELPDESK_DATA_ACTIVE_KEY": "nope"}, b"'nope'"),
    ],
    ids=["garbage", "missing-file", "unknown-active-key"],
)
def test_check_refuses_keys_the_service_could_not_use(service, keys, reason):
    command, env, _ = service
    done = subprocess.run(
        [*command, "--check"], env={**env, **keys}, capture_output=True, timeout=60
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert b"configuration error" in done.stderr and reason in done.stderr
    assert b"Traceback" not in done.stderr


def test_migrate_refuses_bad_settings_in_one_line():
    """``make run`` migrates first: a bad setting must read the same there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    done = subprocess.run(
        [str(BIN / "helpdesk-migrate")],
        # As make migrate runs it: development, said explicitly.
        env={**env, "HELPDESK_ENV": "development", "HELPDESK_TICKETS_PER_DAY": "abc"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"helpdesk-migrate: configuration error: HELPDESK_TICKETS_PER_DAY" in done.stderr
    assert b"Traceback" not in done.stderr
