"""Every command the compose file and the image run exists here and starts.

Each runs the way the image runs it: through ``deploy/entrypoint.py``, with
``HELPDESK_ENV=production`` and the secrets as mounted files, so a command that
works here but needs a setting compose does not give it fails here too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.crypto import generate_key
from tests.deploy.conftest import ROOT, helpdesk_services, local_argv

pytestmark = pytest.mark.integration

ENTRYPOINT = [sys.executable, str(ROOT / "deploy" / "entrypoint.py")]
# How each kind of command proves it starts without serving.
DRY_RUN = {
    "helpdesk-tickets": ["--check"],
    "helpdesk-notifications": ["--check"],
    "helpdesk-gateway": ["--check-config"],
    "helpdesk-stream": ["--check"],
    "helpdesk-setup": ["--help"],
}


@pytest.fixture
def production_env(tmp_path, compose_config):
    """An image-like environment: production, secrets in files, compose's paths mapped here."""

    def make(service: str, **overrides) -> dict:
        jwt = tmp_path / "jwt_secret"
        jwt.write_text("s" * 48 + "\n")
        keys = tmp_path / "data_keys"
        keys.write_text(f"k1={generate_key()}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        env.update(compose_config["services"][service].get("environment", {}))
        # Only the secret files compose gives this service, at a local path.
        for name, path in (("HELPDESK_JWT_SECRET_FILE", jwt), ("HELPDESK_DATA_KEY_FILE", keys)):
            if name in env:
                env[name] = str(path)
        env["HELPDESK_HTTP_HOST"] = "127.0.0.1"
        env.update(overrides)
        return {k: str(v) for k, v in env.items() if v is not None}

    return make


def _dry_run(argv: list[str]) -> list[str]:
    """``argv`` with its no-serving flag."""
    return [*argv, *DRY_RUN[argv[0]]]


def _run_as_the_image(argv: list[str], env: dict, timeout: int = 60):
    """Run ``argv`` through the image's entrypoint with ``env``; its finished process."""
    return subprocess.run(
        [*ENTRYPOINT, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _dry_run_as_the_image(command: list[str], env: dict):
    """A compose ``command`` started as the image starts it, with its no-serving flag."""
    return _run_as_the_image(local_argv(_dry_run(command)), env)


def test_every_service_command_starts_in_production(compose_config, production_env):
    services = helpdesk_services(compose_config)
    assert set(services) == {"setup", "tickets", "notifications", "gateway", "stream"}
    for name, service in services.items():
        argv = local_argv(_dry_run(service["command"]))
        result = _run_as_the_image(argv, production_env(name), timeout=120)
        assert result.returncode == 0, f"{name}: {argv}\n{result.stdout}\n{result.stderr}"
        if name in ("tickets", "notifications", "stream"):
            assert "configuration ok (production)" in result.stdout


def test_a_missing_secret_file_stops_the_service_with_its_name(
    compose_config, production_env, tmp_path
):
    env = production_env("gateway", HELPDESK_JWT_SECRET_FILE=tmp_path / "nope")
    result = _dry_run_as_the_image(compose_config["services"]["gateway"]["command"], env)
    assert result.returncode != 0
    assert "HELPDESK_JWT_SECRET_FILE" in result.stderr


def test_without_the_secret_file_the_gateway_refuses_to_start(compose_config, production_env):
    env = production_env("gateway", HELPDESK_JWT_SECRET_FILE=None)
    result = _dry_run_as_the_image(compose_config["services"]["gateway"]["command"], env)
    assert result.returncode == 2
    assert "HELPDESK_JWT_SECRET is required in production" in result.stderr


@pytest.mark.parametrize("service", ["tickets", "notifications"])
def test_a_service_starts_in_production_without_any_jwt_setting(production_env, service):
    """Only the gateway verifies tokens: the services neither need nor read the JWT settings."""
    env = production_env(service)
    assert not [name for name in env if name.startswith("HELPDESK_JWT_")]
    # Not read at all: even an invalid algorithm is no concern of a service.
    env["HELPDESK_JWT_ALGORITHM"] = "none"
    result = _dry_run_as_the_image([f"helpdesk-{service}"], env)
    assert result.returncode == 0, result.stderr
    assert "configuration ok (production)" in result.stdout


def test_an_explicit_setting_wins_over_its_file(production_env, tmp_path):
    (tmp_path / "url").write_text("amqp://from-file@127.0.0.1:1/x\n")
    env = production_env(
        "tickets",
        HELPDESK_AMQP_URL="amqp://explicit@127.0.0.1:1/x",
        HELPDESK_AMQP_URL_FILE=tmp_path / "url",
        HELPDESK_TICKETS_DATABASE_URL=None,
        HELPDESK_TICKETS_DATABASE_URL_FILE=tmp_path / "db",
    )
    (tmp_path / "db").write_text("postgresql://u:p@db.internal:5432/helpdesk_tickets\n")
    probe = (
        "import os; print(os.environ['HELPDESK_AMQP_URL'], os.environ['HELPDESK_TICKETS_DATABASE_URL'],"
        " 'HELPDESK_AMQP_URL_FILE' in os.environ)"
    )
    result = _run_as_the_image([sys.executable, "-c", probe], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "amqp://explicit@127.0.0.1:1/x",
        "postgresql://u:p@db.internal:5432/helpdesk_tickets",
        "False",
    ]


def test_health_check_commands_exist_and_start(compose_config):
    for name, service in helpdesk_services(compose_config).items():
        if "healthcheck" not in service:
            continue
        argv = local_argv(service["healthcheck"]["test"][1:])
        result = subprocess.run(
            [argv[0], argv[1], "--help"], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "service" in result.stdout and "http" in result.stdout
