"""The front processes' settings: the JWT, HTTP and gunicorn settings, validated at
start-up, and no default secret in production."""

import pytest

from services.gateway.settings import DEV_JWT_SECRET, FrontSettings, GatewaySettings
from shared.config import ConfigError, Settings
from shared.tests.environments import LOCAL, PRODUCTION, PRODUCTION_SECRETS
from tools import registry

pytestmark = pytest.mark.unit


def test_local_defaults_match_the_contract():
    s = GatewaySettings.from_env(LOCAL)
    assert s.env == "development"
    assert s.http_port == 8080
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert s.jwt_algorithm == "HS256" and s.jwt_secret == DEV_JWT_SECRET


def test_production_refuses_the_development_secret():
    with pytest.raises(ConfigError, match="HELPDESK_JWT_SECRET"):
        GatewaySettings.from_env(PRODUCTION)
    with pytest.raises(ConfigError, match="real secret"):
        GatewaySettings.from_env({**PRODUCTION, "HELPDESK_JWT_SECRET": DEV_JWT_SECRET})
    with pytest.raises(ConfigError, match="real secret"):
        GatewaySettings.from_env({**PRODUCTION, "HELPDESK_JWT_SECRET": "short"})
    ok = GatewaySettings.from_env({**PRODUCTION, "HELPDESK_JWT_SECRET": "x" * 40})
    assert ok.production and ok.jwt_secret == "x" * 40


def test_production_names_its_broker_rather_than_log_in_as_guest():
    for process in (FrontSettings, GatewaySettings):
        with pytest.raises(ConfigError, match="HELPDESK_AMQP_URL is required in production"):
            process.from_env({"HELPDESK_ENV": "production", "HELPDESK_JWT_SECRET": "x" * 40})


def test_only_a_token_verifying_process_needs_the_jwt_settings():
    production = PRODUCTION
    # The gateway, the stream and helpdesk-token verify (or mint) tokens.
    for process in (FrontSettings, GatewaySettings):
        with pytest.raises(ConfigError, match="HELPDESK_JWT_SECRET is required"):
            process.from_env(production)
    # Every other process (the services, set-up, migrations, key rotation) reads none.
    for process in (Settings, registry.settings_class()):
        s = process.from_env(production)
        assert s.production
        assert not hasattr(s, "jwt_secret") and not hasattr(s, "jwt_public_key")
        assert not hasattr(s, "jwt_issuer") and not hasattr(s, "jwt_audience")
        # Not read at all, so neither validated nor carried.
        s = process.from_env(
            {
                **production,
                "HELPDESK_JWT_SECRET": "x" * 40,
                "HELPDESK_JWT_ALGORITHM": "none",
                "HELPDESK_JWT_PUBLIC_KEY_FILE": "/nonexistent.pem",
                "HELPDESK_JWT_ISSUER": "https://issuer.example",
            }
        )
        assert not hasattr(s, "jwt_secret") and not hasattr(s, "jwt_issuer")
        # Nor does development fall back to the development secret.
        assert not hasattr(process.from_env(LOCAL), "jwt_secret")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELPDESK_HTTP_PORT": "70000"}, "HELPDESK_HTTP_PORT"),
        ({"HELPDESK_JWT_ALGORITHM": "none"}, "HELPDESK_JWT_ALGORITHM"),
        ({"HELPDESK_JWT_ALGORITHM": "RS256"}, "HELPDESK_JWT_PUBLIC_KEY"),
        ({"HELPDESK_RPC_TIMEOUT": "-1"}, "HELPDESK_RPC_TIMEOUT"),
        ({"HELPDESK_RPC_TIMEOUT": "1e308"}, "at most 600"),
        ({"HELPDESK_JWT_ALGORITHM": "ES256", "HELPDESK_JWT_PUBLIC_KEY": "garbage"}, "ES256"),
        ({"HELPDESK_GATEWAY_WORKERS": "zero"}, "HELPDESK_GATEWAY_WORKERS"),
        ({"HELPDESK_GATEWAY_THREADS": "0"}, "HELPDESK_GATEWAY_THREADS"),
        ({"HELPDESK_TLS_CERT_FILE": "/c.pem"}, "HELPDESK_TLS_KEY_FILE"),
    ],
)
def test_invalid_settings_name_the_variable(env, message):
    # The gateway's own settings, each read with its reader and bounds; the readers'
    # rules themselves (finite, whole number, ...) are shared/tests/test_config.py's.
    with pytest.raises(ConfigError, match=message):
        GatewaySettings.from_env({**LOCAL, **env})


def test_process_counts_are_validated_settings_too():
    """What make run and the gateway's gunicorn start is read where every setting is."""
    s = GatewaySettings.from_env(
        {
            **LOCAL,
            "HELPDESK_GATEWAY_WORKERS": "3",
            "HELPDESK_GATEWAY_THREADS": "4",
        }
    )
    assert (s.gateway_workers, s.gateway_threads) == (3, 4)
    defaults = GatewaySettings.from_env(LOCAL)
    assert (defaults.gateway_workers, defaults.gateway_threads) == (2, 8)


def test_an_unset_environment_is_production_not_development():
    # A deployment that forgets HELPDESK_ENV gets no development secret or sign-in page.
    for unset in ({}, {"HELPDESK_ENV": ""}):
        with pytest.raises(ConfigError, match="HELPDESK_JWT_SECRET is required in production"):
            GatewaySettings.from_env(unset)
        settings = GatewaySettings.from_env({**unset, **PRODUCTION_SECRETS})
        assert settings.production and not settings.development


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_development_serves_on_loopback(host):
    assert GatewaySettings.from_env({**LOCAL, "HELPDESK_HTTP_HOST": host}).http_host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "helpdesk.example"])
def test_development_is_refused_off_loopback(host):
    for process in (FrontSettings, GatewaySettings):
        with pytest.raises(ConfigError, match="development serves on loopback only"):
            process.from_env({**LOCAL, "HELPDESK_HTTP_HOST": host})
        # Production and test may listen anywhere.
        for env in ({**PRODUCTION, "HELPDESK_JWT_SECRET": "x" * 40}, {"HELPDESK_ENV": "test"}):
            assert process.from_env({**env, "HELPDESK_HTTP_HOST": host}).http_host == host


def test_the_stream_reads_the_front_settings_not_the_gateway_s_own():
    # helpdesk-stream neither serves pages nor runs gunicorn nor publishes the catalog.
    s = FrontSettings.from_env({**LOCAL, "HELPDESK_STREAM_PORT": "9001"})
    assert s.stream_port == 9001 and s.trusted_proxies == ("127.0.0.1/32", "::1/128")
    for name in ("http_port", "gateway_workers", "frame_ancestors", "features"):
        assert not hasattr(s, name), name
