"""The WSGI entry point gunicorn loads: ``services.gateway.wsgi:app``.

Settings are read once per worker; RPC clients are created lazily inside each
worker process after fork (``rpc.RpcPool`` keys its clients on the pid).
"""

import sys

from services.gateway.app import create_app
from services.gateway.rpc import RpcClients
from services.gateway.settings import GatewaySettings
from shared.config import ConfigError
from shared.logging import configure_logging

try:
    settings = GatewaySettings.from_env()
except ConfigError as exc:  # gunicorn_conf checks first; this guards other WSGI servers
    print(f"helpdesk-gateway: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

configure_logging("gateway", settings.log_level)
clients = RpcClients(settings)
app = create_app(settings, clients)
