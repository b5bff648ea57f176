"""gunicorn settings come from the HELPDESK_* environment, as localrun starts the gateway."""

import importlib
import os
import sys

import pytest

pytestmark = pytest.mark.unit


def _load(monkeypatch, **env):
    for key in (
        "HELPDESK_GATEWAY_WORKERS",
        "HELPDESK_GATEWAY_THREADS",
        "HELPDESK_TLS_CERT_FILE",
        "HELPDESK_TLS_KEY_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    # Empty counts as unset for the config; setenv makes monkeypatch restore what it sets.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.setenv("HELPDESK_ENV", "test")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("services.gateway.gunicorn_conf", None)
    conf = importlib.import_module("services.gateway.gunicorn_conf")
    assert conf._metrics_dir and os.path.isdir(conf._metrics_dir)
    conf.on_exit(None)
    assert not os.path.exists(conf._metrics_dir)
    return conf


def test_defaults(monkeypatch):
    conf = _load(monkeypatch, HELPDESK_HTTP_HOST="127.0.0.1", HELPDESK_HTTP_PORT="8123")
    assert conf.bind == "127.0.0.1:8123"
    assert (conf.worker_class, conf.workers, conf.threads) == (
        "services.gateway.worker.GatewayWorker",
        2,
        8,
    )
    assert conf.graceful_timeout <= conf.timeout
    assert not hasattr(conf, "certfile")


def test_workers_threads_and_tls(monkeypatch, tmp_path):
    from tests.privacy.tlskit import issue_for, make_ca

    _ca_files, ca = make_ca(tmp_path)
    server = issue_for(tmp_path, ca, "localhost")
    conf = _load(
        monkeypatch,
        HELPDESK_GATEWAY_WORKERS="3",
        HELPDESK_GATEWAY_THREADS="4",
        HELPDESK_TLS_CERT_FILE=str(server.cert),
        HELPDESK_TLS_KEY_FILE=str(server.key),
    )
    assert (conf.workers, conf.threads) == (3, 4)
    assert (conf.certfile, conf.keyfile) == (str(server.cert), str(server.key))


def test_a_certificate_that_cannot_be_loaded_stops_start_up(monkeypatch, tmp_path, capsys):
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(SystemExit) as exited:
        _load(
            monkeypatch,
            HELPDESK_TLS_CERT_FILE=str(tmp_path / "c.pem"),
            HELPDESK_TLS_KEY_FILE=str(tmp_path / "k.pem"),
        )
    assert exited.value.code == 2
    assert "helpdesk-gateway: configuration error: HELPDESK_TLS_*" in capsys.readouterr().err


def test_production_without_a_secret_exits_with_a_reason(monkeypatch, capsys):
    monkeypatch.delenv("HELPDESK_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit) as exited:
        _load(monkeypatch, HELPDESK_ENV="production")
    assert exited.value.code == 2
    assert "HELPDESK_JWT_SECRET is required in production" in capsys.readouterr().err


def _request(head: str):
    from gunicorn.config import Config
    from gunicorn.http.parser import RequestParser

    return next(RequestParser(Config(), [head.encode()], ("127.0.0.1", 4000)))


def test_a_body_too_large_to_read_closes_the_connection_up_front(monkeypatch):
    conf = _load(monkeypatch)
    too_large = _request("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n")
    at_cap = _request("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n")
    chunked = _request("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    for req in (too_large, at_cap, chunked):
        conf.pre_request(None, req)
    # gunicorn answers "Connection: close" for the first; the others may stay open.
    assert [r.should_close() for r in (too_large, at_cap, chunked)] == [True, False, False]


def test_forwarded_headers_are_believed_from_the_trusted_proxies_only(monkeypatch):
    conf = _load(monkeypatch)
    assert conf.forwarded_allow_ips == "127.0.0.1/32,::1/128"
    conf = _load(monkeypatch, HELPDESK_TRUSTED_PROXIES="10.1.2.3, 172.30.80.0/24")
    assert conf.forwarded_allow_ips == "10.1.2.3/32,172.30.80.0/24"
    conf = _load(monkeypatch, HELPDESK_TRUSTED_PROXIES="none")
    assert conf.forwarded_allow_ips == ""
