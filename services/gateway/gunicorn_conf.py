"""gunicorn settings for the gateway, which ``helpdesk-gateway`` starts with.

gthread workers (each thread borrows a pooled RPC client). Every value comes from
the validated ``GatewaySettings``: ``HELPDESK_HTTP_HOST``/``HELPDESK_HTTP_PORT``,
``HELPDESK_GATEWAY_WORKERS`` (2), ``HELPDESK_GATEWAY_THREADS`` (8) and, for HTTPS,
``HELPDESK_TLS_CERT_FILE``/``HELPDESK_TLS_KEY_FILE``. Access lines are written by
the app as JSON (``gateway.access``), so gunicorn's own access log is off.

Refuses to start, with a one-line reason and exit status 2, when the settings are
invalid (e.g. no real JWT secret in production).
"""

import os
import shutil
import ssl
import sys
import tempfile

from services.gateway.jwks import SHARED_FILE_VARIABLE
from services.gateway.settings import GatewaySettings

_settings = GatewaySettings.from_env_or_exit("helpdesk-gateway")


bind = f"{_settings.http_host}:{_settings.http_port}"
# gthread, with gunicorn's own parse errors in the contract's JSON shape.
worker_class = "services.gateway.worker.GatewayWorker"
workers = _settings.gateway_workers
threads = _settings.gateway_threads
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "helpdesk-gateway"
# X-Forwarded-Proto (HTTPS behind the load balancer: HSTS, secure cookies) is believed
# from the same proxies as X-Forwarded-For (the app's access log), no others.
forwarded_allow_ips = ",".join(_settings.trusted_proxies)
# Request line and header limits (bodies are capped by the app at 64 KiB).
limit_request_line = 8190
limit_request_fields = 100

_cert, _key = _settings.tls_cert_file, _settings.tls_key_file
if _cert:
    # Loaded now, as the workers will: a missing or mismatched file is one line here,
    # not gunicorn's traceback.
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(_cert, _key)
    except (OSError, ssl.SSLError) as _exc:
        print(f"helpdesk-gateway: configuration error: HELPDESK_TLS_*: {_exc}", file=sys.stderr)
        sys.exit(2)
    certfile, keyfile = _cert, _key

# Prometheus multiprocess mode: every worker writes its samples under one directory,
# set before any worker imports prometheus_client; removed when the master exits.
_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = tempfile.mkdtemp(prefix="helpdesk-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


# The workers share the host's key set through one file (jwks.KeySet), so a rotated
# key one of them learnt is known to all: in a directory of this master's own.
_jwks_dir = None
if _settings.jwt_jwks_url:
    _jwks_dir = tempfile.mkdtemp(prefix="helpdesk-gateway-jwks-")
    os.environ[SHARED_FILE_VARIABLE] = os.path.join(_jwks_dir, "jwks.json")


def pre_request(worker, req):
    """Announce ``Connection: close`` when the request's body is too large to be read.

    The app refuses a body over 64 KiB from its Content-Length without reading it,
    and gunicorn drains at most 64 KiB of an unread body before it gives up and
    closes the connection. Without this the 413 would say ``keep-alive`` and the
    client's next request on that connection would find it closed.
    """
    from services.gateway.body import MAX_BODY_BYTES  # loaded by the app already

    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            if value.isdigit() and int(value) > MAX_BODY_BYTES:
                req.must_close = True
            return


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the aggregated metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Close this worker's RPC clients (and their reply queues) on the way out."""
    wsgi = sys.modules.get("services.gateway.wsgi")
    if wsgi is not None:
        wsgi.clients.close()


def on_exit(server):
    """Remove the directories this master created."""
    for directory in (_metrics_dir, _jwks_dir):
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
