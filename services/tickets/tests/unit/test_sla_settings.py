"""The response clocks' settings: read from the environment, refused with a clear error."""

from datetime import UTC, datetime

import pytest

from services.gateway.settings import GatewaySettings
from services.tickets import clocks
from services.tickets.settings import TicketsSettings, response_policy
from shared.config import ConfigError, parse_duration

pytestmark = pytest.mark.unit


def settings(**env):
    return TicketsSettings.from_env({"HELPDESK_ENV": "test", **env})


def test_the_contract_s_defaults():
    policy = response_policy(settings())
    assert policy.first == {"critical": 14400, "high": 28800, "medium": 86400, "low": 86400}
    assert policy.next == 172800 and policy.calendar is clocks.ROUND_THE_CLOCK
    assert settings().response_targets == {"first": policy.first, "next": 172800}


def test_the_gateway_publishes_the_targets_the_clocks_count_by():
    env = {"HELPDESK_ENV": "test", "HELPDESK_SLA_FIRST_RESPONSE": "low=3d"}
    gateway = GatewaySettings.from_env(env)
    assert gateway.response_targets["first"]["low"] == 3 * 86400
    assert gateway.response_targets == settings(**env).response_targets


def test_targets_business_hours_and_time_zone_from_the_environment():
    policy = response_policy(
        settings(
            HELPDESK_SLA_FIRST_RESPONSE="critical=30m, high=2h",
            HELPDESK_SLA_NEXT_RESPONSE="1d",
            HELPDESK_SLA_BUSINESS_HOURS="mon-fri 09:00-17:00",
            HELPDESK_SLA_TIMEZONE="Europe/Berlin",
        )
    )
    # Priorities left out keep their defaults.
    assert policy.first == {"critical": 1800, "high": 7200, "medium": 86400, "low": 86400}
    assert policy.next == 86400
    friday_4pm_berlin = datetime(2026, 5, 8, 14, 0, tzinfo=UTC)
    assert policy.calendar.add(friday_4pm_berlin, 7200) == datetime(2026, 5, 11, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,seconds", [("90s", 90), ("15m", 900), ("4h", 14400), ("7d", 604800), ("0", 0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["4", "4 hours", "-4h", "4h30m", "1.5h", "h", ""])
def test_what_is_not_a_duration(text):
    with pytest.raises(ValueError, match="not a duration like 90s, 15m, 4h or 7d"):
        parse_duration(text)


@pytest.mark.parametrize(
    "env,message",
    [
        ({"HELPDESK_SLA_FIRST_RESPONSE": "urgent=1h"}, "not priority=duration"),
        ({"HELPDESK_SLA_FIRST_RESPONSE": "critical"}, "not priority=duration"),
        ({"HELPDESK_SLA_FIRST_RESPONSE": "critical=1h,critical=2h"}, "names critical twice"),
        ({"HELPDESK_SLA_FIRST_RESPONSE": "critical=soon"}, "not a duration"),
        ({"HELPDESK_SLA_FIRST_RESPONSE": "critical=0"}, "must be from 1s"),
        ({"HELPDESK_SLA_NEXT_RESPONSE": "400d"}, "must be from 1s"),
        ({"HELPDESK_SLA_NEXT_RESPONSE": "2 days"}, "not a duration"),
    ],
)
def test_a_bad_target_is_refused_naming_the_variable(env, message):
    with pytest.raises(ConfigError, match=message) as refused:
        settings(**env)
    assert next(iter(env)) in str(refused.value)


@pytest.mark.parametrize(
    "env,message",
    [
        ({"HELPDESK_SLA_TIMEZONE": "Mars/Olympus"}, "HELPDESK_SLA_TIMEZONE: 'Mars/Olympus' is not"),
        ({"HELPDESK_SLA_BUSINESS_HOURS": "weekdays 9-5"}, "HELPDESK_SLA_BUSINESS_HOURS: 'weekdays"),
        ({"HELPDESK_SLA_BUSINESS_HOURS": "mon 17:00-09:00"}, "closes before it opens"),
    ],
)
def test_a_bad_calendar_is_refused_at_start_up(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)
