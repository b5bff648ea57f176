"""The catalog file: the shipped defaults, an operator's own file, and each mistake
refused at start-up with a message naming the file and the entry."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from services.tickets.catalog_file import DEFAULT_CATALOG_FILE, read_catalog_file
from services.tickets.settings import TicketsSettings
from shared.catalog import ISSUE_TYPE_KEYS, ISSUE_TYPES, build_catalog
from shared.config import ConfigError

pytestmark = pytest.mark.unit

LOCAL = {"HELPDESK_ENV": "development"}
ISSUE_TYPES_TABLE = """[issue_types]
access = "Locked out of your workspace."
bug = "Something is broken."
billing = "Invoices and plans."
data = "Imports and exports."
other = "Anything else."
"""
FEATURES = """
[[features]]
key = "boards"
label = "Boards"

[[features]]
key = "time_tracking"
label = "Time Tracking"
"""


def write(tmp_path, text: str):
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_is_this_product_s_catalog():
    catalog = read_catalog_file(DEFAULT_CATALOG_FILE)
    keys = [key for key, _label in catalog.features]
    for key in ("github_analytics", "leetcode_stats", "linkedin_sync", "resume_builder"):
        assert key in keys
    assert [key for key, _text in catalog.descriptions] == list(ISSUE_TYPE_KEYS)
    assert dict(catalog.descriptions)["data"].startswith(
        "Issues with GitHub, LeetCode, or LinkedIn data synchronization"
    )


def test_an_operator_s_file_sets_descriptions_and_features_in_both_services(tmp_path):
    path = write(tmp_path, ISSUE_TYPES_TABLE + FEATURES)
    env = {**LOCAL, "HELPDESK_CATALOG_FILE": str(path)}
    tickets = TicketsSettings.from_env(env)
    gateway = GatewaySettings.from_env(env)
    for settings in (tickets, gateway):
        assert settings.features == (("boards", "Boards"), ("time_tracking", "Time Tracking"))
        document = build_catalog(settings)
        types = {t["key"]: t for t in document["issue_types"]}
        assert types["access"]["description"] == "Locked out of your workspace."
        # Keys, labels and priorities stay the contract's, whatever the file says.
        assert [(t["key"], t["label"], t["priority"]) for t in document["issue_types"]] == [
            (t["key"], t["label"], t["priority"]) for t in ISSUE_TYPES
        ]


def test_helpdesk_features_still_replaces_the_file_s_features(tmp_path):
    path = write(tmp_path, ISSUE_TYPES_TABLE + FEATURES)
    env = {**LOCAL, "HELPDESK_CATALOG_FILE": str(path), "HELPDESK_FEATURES": "sso:Single sign-on"}
    settings = TicketsSettings.from_env(env)
    assert settings.features == (("sso", "Single sign-on"),)
    assert dict(settings.issue_type_descriptions)["other"] == "Anything else."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[issue_types\nbug = 1", "is not valid TOML"),
        (FEATURES, r"\[issue_types\] is missing"),
        (ISSUE_TYPES_TABLE, r"\[\[features\]\] is missing"),
        (ISSUE_TYPES_TABLE.replace('other = "Anything else."', ""), "no description for 'other'"),
        (
            ISSUE_TYPES_TABLE + 'question = "Ask us."\n' + FEATURES,
            "'question', which is not an issue type",
        ),
        (
            ISSUE_TYPES_TABLE.replace('bug = "Something is broken."', 'bug = { label = "Defect" }')
            + FEATURES,
            "bug must be a text in quotes",
        ),
        (ISSUE_TYPES_TABLE.replace("Anything else.", " ") + FEATURES, "description of 'other'"),
        (ISSUE_TYPES_TABLE + FEATURES + FEATURES, "lists a key twice: 'boards'"),
        (
            ISSUE_TYPES_TABLE + '[[features]]\nkey = "Big Key"\nlabel = "X"\n',
            "invalid key 'Big Key'",
        ),
        (ISSUE_TYPES_TABLE + '[[features]]\nkey = "x"\nlabel = ""\n', "label of 'x'"),
        (ISSUE_TYPES_TABLE + '[[features]]\nkey = "x"\n', "feature 1 needs a key and a label"),
        (
            ISSUE_TYPES_TABLE + '[[features]]\nkey = "x"\nlabel = "X"\npriority = "high"\n',
            "feature 1 has an unknown field 'priority'",
        ),
        (
            ISSUE_TYPES_TABLE + FEATURES + "[limits]\ntickets_per_day = 9\n",
            "unknown section 'limits'",
        ),
    ],
)
def test_a_bad_file_stops_the_start_naming_what_is_wrong(tmp_path, text, message):
    path = write(tmp_path, text)
    env = {**LOCAL, "HELPDESK_CATALOG_FILE": str(path)}
    for read in (
        lambda: TicketsSettings.from_env(env),
        lambda: GatewaySettings.from_env(env),
    ):
        with pytest.raises(ConfigError, match=message) as raised:
            read()
        assert str(raised.value).startswith(f"HELPDESK_CATALOG_FILE ({path})")


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"HELPDESK_CATALOG_FILE: no such file '{missing}'"):
        TicketsSettings.from_env({**LOCAL, "HELPDESK_CATALOG_FILE": str(missing)})
    with pytest.raises(ConfigError, match="cannot read"):
        TicketsSettings.from_env({**LOCAL, "HELPDESK_CATALOG_FILE": str(tmp_path)})
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[issue_types]\naccess = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="HELPDESK_CATALOG_FILE"):
        TicketsSettings.from_env({**LOCAL, "HELPDESK_CATALOG_FILE": str(latin)})
