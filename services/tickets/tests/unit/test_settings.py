"""The tickets service's settings: the contract's defaults, each variable validated."""

from datetime import timedelta

import pytest

from services.gateway.settings import GatewaySettings
from services.tickets import domain
from services.tickets.settings import TicketsSettings, timings
from shared.config import ConfigError
from shared.tests.environments import LOCAL

pytestmark = pytest.mark.unit


def test_local_defaults_match_the_contract():
    s = TicketsSettings.from_env(LOCAL)
    assert s.tickets_database_url == "postgresql://root@127.0.0.1:5432/helpdesk_tickets"
    assert (s.tickets_per_day, s.messages_per_hour, s.tickets_instances) == (5, 20, 1)
    # The shipped catalog file: the developer-career platform's features.
    assert ("github_analytics", "GitHub Analytics") in s.features
    assert dict(s.issue_type_descriptions)["data"].startswith(
        "Issues with GitHub, LeetCode, or LinkedIn data synchronization"
    )


def test_the_catalog_settings_read_as_the_gateway_reads_them():
    env = {
        **LOCAL,
        "HELPDESK_FEATURES": "exports:Data exports, sso",
        "HELPDESK_TICKETS_PER_DAY": "7",
        "HELPDESK_MESSAGES_PER_HOUR": "3",
        "HELPDESK_TICKETS_INSTANCES": "2",
    }
    s = TicketsSettings.from_env(env)
    assert s.features == (("exports", "Data exports"), ("sso", "Sso"))
    assert (s.tickets_per_day, s.messages_per_hour, s.tickets_instances) == (7, 3, 2)
    gateway = GatewaySettings.from_env(env)
    assert (gateway.features, gateway.tickets_per_day, gateway.messages_per_hour) == (
        s.features,
        7,
        3,
    )
    # The gateway holds no tickets database URL: it connects to none.
    assert not hasattr(gateway, "tickets_database_url")


# Each variable with values it refuses; the error names the variable.
INVALID = {
    "HELPDESK_TICKETS_PER_DAY": ("0", "five"),
    "HELPDESK_MESSAGES_PER_HOUR": ("0", "twenty", "100001"),
    "HELPDESK_TICKETS_DATABASE_URL": ("mysql://x/y", "postgresql://h:5432/"),
    "HELPDESK_FEATURES": ("a:A,a:B", "bad key!:X"),
    "HELPDESK_TICKETS_INSTANCES": ("17",),
}


@pytest.mark.parametrize(
    ("variable", "value"), [(name, value) for name, values in INVALID.items() for value in values]
)
def test_an_invalid_value_is_refused_naming_its_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        TicketsSettings.from_env({**LOCAL, variable: value})


def test_production_wants_the_tickets_database_over_verified_tls():
    env = {
        "HELPDESK_ENV": "production",
        "HELPDESK_AMQP_URL": "amqps://t:pw@rabbitmq:5671/h",
        "HELPDESK_TICKETS_DATABASE_URL": "postgresql://t:pw@postgres/helpdesk_tickets",
    }
    with pytest.raises(ConfigError, match="HELPDESK_TICKETS_DATABASE_URL must be TLS-verified"):
        TicketsSettings.from_env(env)


def test_scheduled_work_defaults_match_the_contract():
    s = TicketsSettings.from_env(LOCAL)
    assert timings(s) == domain.Timings(timedelta(days=7), timedelta(days=1), timedelta(days=3))
    assert s.scheduler_interval == 30


@pytest.mark.parametrize(
    "raw,value",
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("7d", timedelta(days=7)),
        (" 2d ", timedelta(days=2)),
        ("0", None),
    ],
)
def test_durations_are_read_and_zero_turns_a_feature_off(raw, value):
    for name, attribute in (
        ("HELPDESK_AUTO_CLOSE_AFTER", "auto_close_after"),
        ("HELPDESK_AWAITING_REMINDER_AFTER", "awaiting_reminder_after"),
    ):
        env = {**LOCAL, name: raw, "HELPDESK_AUTO_CLOSE_REMINDER": "0"}
        assert getattr(timings(TicketsSettings.from_env(env)), attribute) == value


@pytest.mark.parametrize("raw", ["7", "1.5h", "4 h", "-1d", "1w", "d", "4h30m", "9999d"])
@pytest.mark.parametrize(
    "name",
    [
        "HELPDESK_AUTO_CLOSE_AFTER",
        "HELPDESK_AUTO_CLOSE_REMINDER",
        "HELPDESK_AWAITING_REMINDER_AFTER",
        "HELPDESK_SCHEDULER_INTERVAL",
    ],
)
def test_a_bad_duration_is_refused_naming_its_variable(name, raw):
    with pytest.raises(ConfigError, match=name) as refused:
        TicketsSettings.from_env({**LOCAL, name: raw})
    assert repr(raw) in str(refused.value)


def test_the_scheduler_interval_cannot_be_off_or_longer_than_an_hour():
    for raw in ("0", "2h"):
        with pytest.raises(ConfigError, match="HELPDESK_SCHEDULER_INTERVAL"):
            TicketsSettings.from_env({**LOCAL, "HELPDESK_SCHEDULER_INTERVAL": raw})
    env = {**LOCAL, "HELPDESK_SCHEDULER_INTERVAL": "1s"}
    assert TicketsSettings.from_env(env).scheduler_interval == 1


def test_the_reminder_must_come_before_the_closing():
    env = {**LOCAL, "HELPDESK_AUTO_CLOSE_AFTER": "1d", "HELPDESK_AUTO_CLOSE_REMINDER": "1d"}
    with pytest.raises(ConfigError, match=r"HELPDESK_AUTO_CLOSE_REMINDER \(1d\) .*shorter"):
        TicketsSettings.from_env(env)
    # Auto-close off: the reminder has nothing to come before.
    env["HELPDESK_AUTO_CLOSE_AFTER"] = "0"
    assert timings(TicketsSettings.from_env(env)).auto_close_after is None
