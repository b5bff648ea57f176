"""Helpers for the deployment tests: the compose file and Dockerfile as data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OVERLAYS = (
    ROOT / "deploy" / "compose.tls.yml",
    ROOT / "deploy" / "compose.management.yml",
    ROOT / "deploy" / "compose.pgbouncer.yml",
)
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
# Where the image puts the checkout, and which of its programs the venv provides.
IMAGE_ROOT = "/app/"
PASSWORDS = {
    "HELPDESK_POSTGRES_PASSWORD": "pgadmin0123",
    "HELPDESK_RABBITMQ_PASSWORD": "mqadmin0123",
    "HELPDESK_TICKETS_DB_PASSWORD": "tdbpass0123",
    "HELPDESK_NOTIFICATIONS_DB_PASSWORD": "ndbpass0123",
    "HELPDESK_TICKETS_AMQP_PASSWORD": "tmqpass0123",
    "HELPDESK_NOTIFICATIONS_AMQP_PASSWORD": "nmqpass0123",
    "HELPDESK_GATEWAY_AMQP_PASSWORD": "gmqpass0123",
    "HELPDESK_BACKUP_DB_PASSWORD": "bdbpass0123",
}


def docker_compose() -> str:
    """Debian's docker-compose (1.29), which validates without a Docker engine."""
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is not installed: apt-get install -y docker-compose")
    return found


def compose(*args, files=(COMPOSE_FILE,), env=None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``docker-compose -f ... <args>`` from the repository root."""
    argv = [docker_compose()]
    for path in files:
        argv += ["-f", str(path)]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    environ.update(PASSWORDS if env is None else env)
    return subprocess.run(
        [*argv, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, **kwargs
    )


@pytest.fixture(scope="session")
def compose_config() -> dict:
    """The compose file as Compose resolves it (anchors merged, variables filled in)."""
    result = compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def helpdesk_services(config: dict) -> dict:
    """The services that run the project's own image."""
    return {name: svc for name, svc in config["services"].items() if "build" in svc}


def local_argv(argv: list[str]) -> list[str]:
    """A command from the image, as it runs in this checkout's virtualenv."""
    bindir = Path(sys.executable).parent
    local = []
    for i, arg in enumerate(argv):
        if arg.startswith(IMAGE_ROOT):
            arg = str(ROOT / arg[len(IMAGE_ROOT) :])
        elif i == 0 and arg == "python":
            arg = sys.executable
        elif i == 0:
            assert (bindir / arg).exists(), f"{arg} is not installed in the virtualenv"
            arg = str(bindir / arg)
        local.append(arg)
    return local


@pytest.fixture(scope="module")
def isolated(run_id, request):
    """A fresh RabbitMQ vhost and database URLs of this module's own (dropped after).

    The databases are not created here: the set-up step under test creates them.
    """
    from tests.stack import BASE_PG, create_vhost, delete_vhost
    from tools.migrate import drop_database

    tag = f"d{run_id}_{request.module.__name__.rsplit('_', 1)[-1]}"
    amqp = create_vhost(tag)
    env = {
        "HELPDESK_ENV": "test",
        "HELPDESK_AMQP_URL": amqp,
        "HELPDESK_TICKETS_DATABASE_URL": f"{BASE_PG}/helpdesk_{tag}_tickets",
        "HELPDESK_NOTIFICATIONS_DATABASE_URL": f"{BASE_PG}/helpdesk_{tag}_notifications",
    }
    yield env
    delete_vhost(amqp)
    drop_database(env["HELPDESK_TICKETS_DATABASE_URL"])
    drop_database(env["HELPDESK_NOTIFICATIONS_DATABASE_URL"])


def process_env(**settings) -> dict:
    """This process's environment without its HELPDESK_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def run_setup(env: dict) -> subprocess.CompletedProcess:
    """``helpdesk-setup`` with ``env``, run as the compose service runs it; it must
    succeed."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "helpdesk-setup"), "--timeout", "60"],
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
