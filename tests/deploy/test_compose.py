"""docker-compose.yml: valid, scalable, ordered, healthy, and free of secrets.

Validated with Debian's docker-compose (``config``), which needs no Docker engine.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.conftest import (
    COMPOSE_FILE,
    OVERLAYS,
    PASSWORDS,
    ROOT,
    compose,
    helpdesk_services,
)

pytestmark = pytest.mark.unit

SCALED = ("tickets", "notifications", "gateway", "stream")
# A scaled service logging in as another (its broker user and permissions).
LOGIN = {"stream": "gateway"}
# image:tag with an exact release, never a floating one: three numbers, or two for
# PostgreSQL (whose minor number is the patch release: 15.10).
PINNED = re.compile(r"^(postgres:\d+\.\d+|[a-z0-9./-]+:\d+\.\d+\.\d+)(-[a-z0-9.-]+)?$")


@pytest.mark.parametrize(
    "files",
    [(COMPOSE_FILE,), *[(COMPOSE_FILE, overlay) for overlay in OVERLAYS]],
    ids=["base", *[overlay.name for overlay in OVERLAYS]],
)
def test_compose_files_are_valid(files):
    result = compose("config", "-q", files=files)
    assert result.returncode == 0, result.stderr


def test_refuses_to_start_without_passwords():
    result = compose("config", "-q", env={})
    assert result.returncode != 0
    assert "HELPDESK_RABBITMQ_PASSWORD" in result.stderr or "HELPDESK_POSTGRES_PASSWORD" in (
        result.stderr
    )


def test_scaled_services_have_no_fixed_names_or_host_ports(compose_config):
    for name in SCALED:
        service = compose_config["services"][name]
        assert "container_name" not in service, name
        assert "ports" not in service, name
        assert "hostname" not in service, name


def test_only_the_load_balancer_publishes_ports(compose_config):
    published = {name for name, svc in compose_config["services"].items() if svc.get("ports")}
    assert published == {"lb"}
    targets = {str(port["target"]) for port in compose_config["services"]["lb"]["ports"]}
    assert targets == {"8443", "8080"}


def test_setup_runs_before_every_service_once_backing_services_are_healthy(compose_config):
    services = compose_config["services"]
    setup = services["setup"]
    assert setup["command"] == ["helpdesk-setup"]
    assert setup.get("restart", "no") == "no"
    assert setup["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }
    for name in SCALED:
        assert services[name]["depends_on"]["setup"] == {
            "condition": "service_completed_successfully"
        }, name
    assert services["gateway"]["depends_on"]["tickets"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["notifications"]["condition"] == "service_healthy"


def test_long_running_services_have_health_checks_and_restart_policies(compose_config):
    for name, service in compose_config["services"].items():
        if name == "setup":
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD", name
    checks = {
        name: svc["healthcheck"]["test"][1:]
        for name, svc in compose_config["services"].items()
        if name != "setup"
    }
    assert checks["gateway"] == [
        "python",
        "/app/deploy/probe.py",
        "http",
        "http://127.0.0.1:8080/healthz",
    ]
    assert checks["stream"] == [
        "python",
        "/app/deploy/probe.py",
        "http",
        "http://127.0.0.1:8081/healthz",
    ]
    assert checks["tickets"] == ["python", "/app/deploy/probe.py", "service", "helpdesk-tickets"]
    assert checks["notifications"] == [
        "python",
        "/app/deploy/probe.py",
        "service",
        "helpdesk-notifications",
    ]


def test_third_party_images_are_pinned_to_exact_versions(compose_config):
    images = {
        name: svc["image"] for name, svc in compose_config["services"].items() if "build" not in svc
    }
    assert set(images) == {"postgres", "rabbitmq", "lb", "backup"}
    for name, image in images.items():
        assert PINNED.match(image), f"{name}: {image} is not pinned to an exact version"
    assert images["rabbitmq"].endswith("-management")
    assert images["postgres"].startswith("postgres:15.")
    # pg_dump of the server's own version.
    assert images["backup"] == images["postgres"]


def test_services_run_in_production_with_secrets_from_files(compose_config):
    for name, service in helpdesk_services(compose_config).items():
        env = service["environment"]
        assert env["HELPDESK_ENV"] == "production", name
        # Secret values never sit in the compose file: only paths to mounted files.
        for secret in ("HELPDESK_JWT_SECRET", "HELPDESK_DATA_KEYS", "HELPDESK_JWT_PUBLIC_KEY"):
            assert secret not in env, f"{name} has {secret} inline"
    for name in ("tickets", "notifications"):
        service = compose_config["services"][name]
        assert service["environment"]["HELPDESK_DATA_KEY_FILE"] == "/run/secrets/helpdesk_data_keys"
        assert "helpdesk_data_keys" in {s["source"] for s in service["secrets"]}


def test_each_service_gets_only_the_credentials_it_uses(compose_config):
    services = compose_config["services"]
    env = {name: set(services[name]["environment"]) for name in (*SCALED, "setup")}
    assert "HELPDESK_TICKETS_DATABASE_URL" in env["tickets"]
    assert "HELPDESK_NOTIFICATIONS_DATABASE_URL" not in env["tickets"]
    assert "HELPDESK_NOTIFICATIONS_DATABASE_URL" in env["notifications"]
    assert "HELPDESK_TICKETS_DATABASE_URL" not in env["notifications"]
    for name in ("gateway", "stream"):
        databases = {"HELPDESK_TICKETS_DATABASE_URL", "HELPDESK_NOTIFICATIONS_DATABASE_URL"}
        assert not databases & env[name], name
    assert "HELPDESK_DATA_KEY_FILE" not in env["gateway"] | env["stream"] | env["setup"]


@pytest.mark.parametrize(
    "overlays",
    [(), *((overlay,) for overlay in OVERLAYS)],
    ids=["base", "tls", "management", "pgbouncer"],
)
def test_only_the_gateway_gets_the_jwt_settings_and_secret(overlays):
    """Only the gateway and its stream servers verify tokens: no other container holds
    the signing secret, with or without an overlay (Compose merges an overlay's secret
    lists into the base's)."""
    result = compose("config", files=(COMPOSE_FILE, *overlays))
    assert result.returncode == 0, result.stderr
    for name, service in helpdesk_services(yaml.safe_load(result.stdout)).items():
        jwt_settings = {k for k in service.get("environment", {}) if k.startswith("HELPDESK_JWT_")}
        mounted = {s["source"] for s in service.get("secrets", [])}
        if name in ("gateway", "stream"):
            assert service["environment"]["HELPDESK_JWT_SECRET_FILE"] == (
                "/run/secrets/helpdesk_jwt_secret"
            )
            assert jwt_settings == {
                "HELPDESK_JWT_ALGORITHM",
                "HELPDESK_JWT_ISSUER",
                "HELPDESK_JWT_AUDIENCE",
                "HELPDESK_JWT_JWKS_URL",
                "HELPDESK_JWT_SECRET_FILE",
            }
            assert "helpdesk_jwt_secret" in mounted
        else:
            assert not jwt_settings, f"{name} has {sorted(jwt_settings)}"
            assert "helpdesk_jwt_secret" not in mounted, name


def test_secret_files_are_ignored_by_git_and_docker(compose_config):
    for name, secret in compose_config["secrets"].items():
        path = secret["file"]
        assert path.startswith(str(ROOT / "deploy" / "secrets") + "/"), name
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert "deploy/secrets" in dockerignore and ".env" in dockerignore
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0


def test_tls_overlay_verifies_servers():
    result = compose("config", files=(COMPOSE_FILE, OVERLAYS[0]))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("setup", "tickets", "notifications", "gateway"):
        env = services[name]["environment"]
        assert env["HELPDESK_AMQP_URL"].startswith("amqps://"), name
        assert env["HELPDESK_AMQP_CA_FILE"] == "/run/secrets/helpdesk_ca", name
        for key, value in env.items():
            if key.endswith("_DATABASE_URL"):
                assert value.endswith("?sslmode=verify-full&sslrootcert=/run/secrets/helpdesk_ca")
    backup = services["backup"]
    assert (backup["environment"]["PGSSLMODE"], backup["environment"]["PGSSLROOTCERT"]) == (
        "verify-full",
        "/run/secrets/helpdesk_ca",
    )
    assert [s["source"] for s in backup["secrets"]] == ["helpdesk_ca"]
    assert "ssl=on" in services["postgres"]["command"]
    assert "hba_file=/etc/postgresql/pg_hba.conf" in services["postgres"]["command"]
    hba = (ROOT / "deploy" / "postgres" / "pg_hba.conf").read_text().splitlines()
    rules = [line.split() for line in hba if line.strip() and not line.startswith("#")]
    assert ["hostnossl", "all", "all", "all", "reject"] in rules
    assert not [rule for rule in rules if rule[0] == "host"]


def test_owner_only_secret_files_reach_the_servers_that_read_them(compose_config):
    # make_secrets leaves tls.pem 0640 for group SECRETS_GID and the servers' keys
    # 0600: HAProxy joins that group; RabbitMQ and PostgreSQL copy their key as root.
    from deploy.make_secrets import ACCESS, SECRETS_GID

    assert ACCESS["tls.pem"] == (0o640, True)
    assert f"--gid {SECRETS_GID} helpdesk" in (ROOT / "deploy" / "Dockerfile").read_text()
    assert compose_config["services"]["lb"]["group_add"] == [str(SECRETS_GID)]
    result = compose("config", files=(COMPOSE_FILE, OVERLAYS[0]))
    services = yaml.safe_load(result.stdout)["services"]
    for server, user, key in (
        ("rabbitmq", "rabbitmq", "/etc/rabbitmq/tls-key.pem"),
        ("postgres", "postgres", "/var/lib/postgresql/server.key"),
    ):
        assert ACCESS[f"{server}-key.pem"] == (0o600, False)
        script = services[server]["entrypoint"][2]
        assert f"install -o {user} -g {user} -m 0600 /run/secrets/{server}_key {key}" in script
    tls_conf = (ROOT / "deploy" / "rabbitmq" / "20-tls.conf").read_text()
    assert "ssl_options.keyfile = /etc/rabbitmq/tls-key.pem" in tls_conf
    assert services["rabbitmq"]["command"] == ["rabbitmq-server"]


@pytest.mark.parametrize("overlays", [(), (OVERLAYS[0],)], ids=["base", "tls"])
def test_each_service_logs_in_as_itself_and_only_setup_is_administrator(overlays):
    result = compose("config", files=(COMPOSE_FILE, *overlays))
    services = yaml.safe_load(result.stdout)["services"]
    admin_passwords = (
        PASSWORDS["HELPDESK_POSTGRES_PASSWORD"],
        PASSWORDS["HELPDESK_RABBITMQ_PASSWORD"],
    )
    users = {}
    for name in SCALED:
        env = services[name]["environment"]
        users[name] = urlsplit(env["HELPDESK_AMQP_URL"]).username
        for key, value in env.items():
            assert not any(p in str(value) for p in admin_passwords), f"{name}: {key}"
            if key.endswith("_DATABASE_URL"):
                assert urlsplit(value).username == f"helpdesk_{name}", name
    # The stream servers are the gateway's: its login and its broker permissions.
    assert users == {name: f"helpdesk_{LOGIN.get(name, name)}" for name in SCALED}
    setup = services["setup"]["environment"]
    assert urlsplit(setup["HELPDESK_AMQP_URL"]).username == "helpdesk"  # the administrator
    assert setup["HELPDESK_POSTGRES_ADMIN_URL"].startswith("postgresql://helpdesk:")
    for name in (n for n in SCALED if n not in LOGIN):
        assert setup[f"HELPDESK_{name.upper()}_AMQP_URL"].startswith(f"amqp://helpdesk_{name}:")
    # The backups' own read-only role, with the password setup gives it.
    backup = services["backup"]["environment"]
    login = urlsplit(setup["HELPDESK_BACKUP_DATABASE_URL"])
    assert (backup["PGUSER"], backup["PGPASSWORD"]) == ("helpdesk_backup", login.password)
    assert (login.username, login.password) == (
        "helpdesk_backup",
        PASSWORDS["HELPDESK_BACKUP_DB_PASSWORD"],
    )
    assert not any(p in str(value) for p in admin_passwords for value in backup.values())
    verified = setup["HELPDESK_ALLOW_UNVERIFIED_TRANSPORT"] == "false"
    assert verified == bool(overlays)
    if overlays:
        assert setup["HELPDESK_RABBITMQ_MANAGEMENT_URL"].startswith("https://")
        assert "sslmode=verify-full" in setup["HELPDESK_POSTGRES_ADMIN_URL"]


def test_every_password_the_compose_files_read_is_one_make_secrets_writes():
    from deploy.make_secrets import PASSWORDS as MADE

    read = {
        name
        for path in (COMPOSE_FILE, *OVERLAYS)
        for name in re.findall(r"\$\{(HELPDESK_\w+_PASSWORD)\b", path.read_text())
    }
    assert read == set(MADE) == set(PASSWORDS)


def test_the_front_processes_trust_forwarded_addresses_from_the_frontend_network_only(
    compose_config,
):
    (subnet,) = [c["subnet"] for c in compose_config["networks"]["frontend"]["ipam"]["config"]]
    for name in ("gateway", "stream"):
        service = compose_config["services"][name]
        assert service["environment"]["HELPDESK_TRUSTED_PROXIES"] == subnet, name
    # The load balancer is on that network, and is the only other thing there.
    on_frontend = {
        name for name, svc in compose_config["services"].items() if "frontend" in svc["networks"]
    }
    assert on_frontend == {"lb", "gateway", "stream"}


def test_each_service_replica_serves_metrics_on_the_backend_network(compose_config):
    for name in ("tickets", "notifications"):
        env = compose_config["services"][name]["environment"]
        assert (env["HELPDESK_METRICS_HOST"], env["HELPDESK_METRICS_PORT"]) == ("0.0.0.0", "9100")


def test_the_pgbouncer_overlay_puts_the_services_behind_transaction_pooling():
    overlay = next(o for o in OVERLAYS if o.name == "compose.pgbouncer.yml")
    result = compose("config", files=(COMPOSE_FILE, overlay))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("tickets", "notifications"):
        env = services[name]["environment"]
        url = urlsplit(env[f"HELPDESK_{name.upper()}_DATABASE_URL"])
        # Still the service's own login, now through PgBouncer, without prepared statements.
        assert (url.username, url.hostname, url.port) == (f"helpdesk_{name}", "pgbouncer", 6432)
        assert env["HELPDESK_DB_TRANSACTION_POOLER"] == "true"
        assert services[name]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
    # Migrations and logins are made on PostgreSQL itself.
    assert "@postgres:5432/" in services["setup"]["environment"]["HELPDESK_POSTGRES_ADMIN_URL"]
    ini = (ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini").read_text()
    assert "pool_mode = transaction" in ini
    assert set(services["pgbouncer"]["networks"]) == {"backend"}


def test_the_backup_service_dumps_both_databases_on_a_schedule_into_a_volume(compose_config):
    backup = compose_config["services"]["backup"]
    assert backup["entrypoint"] == ["sh", "/backup/backup.sh"]
    assert backup["healthcheck"]["test"] == ["CMD", "sh", "/backup/backup.sh", "check"]
    # docker-compose writes each as source:target:mode.
    mounts = {
        target: (source, mode) for source, target, mode in (v.split(":") for v in backup["volumes"])
    }
    assert mounts["/backups"] == ("backups", "rw")  # the named volume
    source, mode = mounts["/backup"]
    assert (source.endswith("/deploy/backup"), mode) == (True, "ro")
    assert "backups" in compose_config["volumes"]
    env = backup["environment"]
    assert (env["PGHOST"], env["HELPDESK_BACKUP_INTERVAL"]) == ("postgres", "86400")
    # The dumps hold sealed text only: no data key reaches this container.
    assert not any(k.startswith("HELPDESK_DATA_KEY") for k in env)
    assert "secrets" not in backup
    assert set(backup["networks"]) == {"backend"}
