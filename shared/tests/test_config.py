"""Settings: safe local defaults, validation, and no default secret in production."""

import logging
import ssl
from dataclasses import dataclass

import pytest

from shared.config import (
    ConfigError,
    Settings,
    database_url,
    env_setting,
    number,
    sqlalchemy_url,
    whole_number,
)
from shared.tests.environments import LOCAL, PRODUCTION, PRODUCTION_SECRETS

pytestmark = pytest.mark.unit


def test_local_defaults_match_the_contract():
    s = Settings.from_env(LOCAL)
    assert s.env == "development"
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"


def test_production_names_its_broker_rather_than_log_in_as_guest():
    # The front processes' settings refuse it too (services/gateway/tests/unit/test_settings.py).
    with pytest.raises(ConfigError, match="HELPDESK_AMQP_URL is required in production"):
        Settings.from_env({"HELPDESK_ENV": "production", "HELPDESK_JWT_SECRET": "x" * 40})
    assert Settings.from_env(LOCAL).amqp_url == "amqp://guest:guest@127.0.0.1:5672/"


def test_an_unknown_log_level_is_refused_at_start_up():
    with pytest.raises(ConfigError, match="HELPDESK_LOG_LEVEL must be one of"):
        Settings.from_env({**LOCAL, "HELPDESK_LOG_LEVEL": "loud"})
    assert Settings.from_env({**LOCAL, "HELPDESK_LOG_LEVEL": "warning"}).log_level == "WARNING"


def test_the_shared_settings_read_no_jwt_setting():
    # Only the front processes verify tokens (services/gateway/settings.py): every
    # other process neither needs nor holds the token-signing secret.
    s = Settings.from_env(
        {
            **PRODUCTION,
            "HELPDESK_JWT_SECRET": "x" * 40,
            "HELPDESK_JWT_ALGORITHM": "none",
            "HELPDESK_JWT_PUBLIC_KEY_FILE": "/nonexistent.pem",
            "HELPDESK_JWT_ISSUER": "https://issuer.example",
        }
    )
    assert s.production
    assert not [name for name in vars(s) if name.startswith("jwt")]
    assert not [name for name in vars(Settings.from_env(LOCAL)) if name.startswith("jwt")]


@dataclass(frozen=True)
class ExampleSettings(Settings):
    """A service's settings as its settings.py declares them."""

    example_database_url: str = database_url(
        "HELPDESK_EXAMPLE_DATABASE_URL", "postgresql://root@127.0.0.1:5432/helpdesk_example"
    )
    example_per_day: int = env_setting("HELPDESK_EXAMPLE_PER_DAY", 5, whole_number(1, 10))
    example_delay: float = env_setting("HELPDESK_EXAMPLE_DELAY", 1.5, number(60.0))
    example_name: str = env_setting("HELPDESK_EXAMPLE_NAME", "desk")


def test_a_service_declares_its_own_settings_read_and_validated_with_the_shared_ones():
    defaults = ExampleSettings.from_env(LOCAL)
    assert defaults.example_database_url.endswith("/helpdesk_example")
    assert (defaults.example_per_day, defaults.example_delay, defaults.example_name) == (
        5,
        1.5,
        "desk",
    )
    assert defaults.db_pool_size == 10 and defaults.amqp_url.startswith("amqp://guest")
    s = ExampleSettings.from_env(
        {
            **LOCAL,
            "HELPDESK_EXAMPLE_PER_DAY": "7",
            "HELPDESK_EXAMPLE_DELAY": "0.25",
            "HELPDESK_EXAMPLE_NAME": "support",
            "HELPDESK_EXAMPLE_DATABASE_URL": "postgresql://u@db/other",
        }
    )
    assert (s.example_per_day, s.example_delay, s.example_name) == (7, 0.25, "support")
    assert s.example_database_url == "postgresql://u@db/other"
    # The shared class has none of them.
    assert not hasattr(Settings.from_env(LOCAL), "example_per_day")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELPDESK_ENV": "staging"}, "HELPDESK_ENV"),
        ({"HELPDESK_EXAMPLE_PER_DAY": "11"}, "HELPDESK_EXAMPLE_PER_DAY must be between 1 and 10"),
        ({"HELPDESK_EXAMPLE_PER_DAY": "many"}, "HELPDESK_EXAMPLE_PER_DAY must be a whole number"),
        ({"HELPDESK_EXAMPLE_DELAY": "soon"}, "HELPDESK_EXAMPLE_DELAY must be a number"),
        ({"HELPDESK_EXAMPLE_DELAY": "0"}, "HELPDESK_EXAMPLE_DELAY must be greater than 0"),
        ({"HELPDESK_EXAMPLE_DELAY": "nan"}, "HELPDESK_EXAMPLE_DELAY must be a finite number"),
        ({"HELPDESK_EXAMPLE_DELAY": "inf"}, "HELPDESK_EXAMPLE_DELAY must be a finite number"),
        ({"HELPDESK_EXAMPLE_DELAY": "61"}, "HELPDESK_EXAMPLE_DELAY must be at most 60"),
        ({"HELPDESK_EXAMPLE_DATABASE_URL": "mysql://x/y"}, "HELPDESK_EXAMPLE_DATABASE_URL"),
        ({"HELPDESK_EXAMPLE_DATABASE_URL": "postgresql://h:5432/"}, "name a database"),
    ],
)
def test_invalid_settings_name_the_variable(env, message):
    # A service's class reads the shared settings and its own alike. The readers'
    # rules are tested here, once; a service's tests check its own declarations.
    with pytest.raises(ConfigError, match=message):
        ExampleSettings.from_env({**LOCAL, **env})


def test_an_unset_environment_is_production_not_development():
    # A deployment that forgets HELPDESK_ENV gets no guest broker (nor, in the front
    # processes, the development secret or sign-in page).
    for unset in ({}, {"HELPDESK_ENV": ""}):
        with pytest.raises(ConfigError, match="HELPDESK_AMQP_URL is required in production"):
            Settings.from_env(unset)
        settings = Settings.from_env({**unset, **PRODUCTION_SECRETS})
        assert settings.production and not settings.development


def test_sqlalchemy_url_uses_psycopg3():
    assert sqlalchemy_url("postgresql://root@h/db") == "postgresql+psycopg://root@h/db"
    assert sqlalchemy_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"


PRODUCTION_SERVICE = {"HELPDESK_ENV": "production", "HELPDESK_JWT_SECRET": "x" * 40}


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("HELPDESK_AMQP_URL", "amqp://tickets:pw@rabbitmq:5672/helpdesk"),
        ("HELPDESK_EXAMPLE_DATABASE_URL", "postgresql://t:pw@postgres/helpdesk_example"),
        ("HELPDESK_EXAMPLE_DATABASE_URL", "postgresql://n:pw@postgres/h?sslmode=require"),
        ("HELPDESK_EXAMPLE_DATABASE_URL", "postgresql://t:pw@postgres/h?sslmode=verify-ca"),
    ],
)
def test_production_refuses_backends_without_verified_tls(variable, url, caplog):
    env = {**PRODUCTION_SERVICE, "HELPDESK_AMQP_URL": "amqps://t:pw@rabbitmq:5671/h", variable: url}
    with pytest.raises(ConfigError, match=f"{variable} must be TLS-verified in production"):
        ExampleSettings.from_env(env)
    with pytest.raises(ConfigError, match="true or false"):
        ExampleSettings.from_env({**env, "HELPDESK_ALLOW_UNVERIFIED_TRANSPORT": "yes please"})
    # The explicit opt-out starts, and says so as a warning naming the setting.
    caplog.set_level(logging.WARNING, logger="shared.config")
    ExampleSettings.from_env({**env, "HELPDESK_ALLOW_UNVERIFIED_TRANSPORT": "true"})
    (record,) = [r for r in caplog.records if r.name == "shared.config"]
    assert record.levelno == logging.WARNING and variable in record.getMessage()
    # Development and test are not production: plain local connections are fine.
    ExampleSettings.from_env({"HELPDESK_ENV": "test", variable: url})


def test_production_accepts_verified_tls_backends(caplog):
    settings = ExampleSettings.from_env(
        {
            **PRODUCTION_SERVICE,
            "HELPDESK_AMQP_URL": "amqps://tickets:pw@rabbitmq:5671/helpdesk",
            "HELPDESK_EXAMPLE_DATABASE_URL": (
                "postgresql://t:pw@postgres/helpdesk_example?sslmode=verify-full&sslrootcert=/ca"
            ),
        }
    )
    assert settings.amqp_ssl["cert_reqs"] == ssl.CERT_REQUIRED
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_command_refuses_to_start_with_one_line_naming_the_setting(capsys):
    with pytest.raises(SystemExit) as exit:
        ExampleSettings.from_env_or_exit("helpdesk-x", {**LOCAL, "HELPDESK_EXAMPLE_PER_DAY": "0"})
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("helpdesk-x: configuration error: HELPDESK_EXAMPLE_PER_DAY")
    assert err.count("\n") == 1
    assert ExampleSettings.from_env_or_exit("helpdesk-x", LOCAL).example_per_day == 5


@pytest.mark.parametrize("text", ["0", "90s", "15m", "90m", "4h", "36h", "7d", "366d"])
def test_a_duration_is_written_back_as_an_operator_writes_it(text):
    from shared.config import format_duration, parse_duration

    assert format_duration(parse_duration(text)) == text
