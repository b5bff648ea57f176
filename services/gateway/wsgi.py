"""The WSGI entry point gunicorn loads: ``services.gateway.wsgi:app``.

Settings are read once per worker; RPC clients are created lazily inside each
worker process after fork (``rpc.RpcPool`` keys its clients on the pid).
"""

from services.gateway.app import create_app
from services.gateway.rpc import RpcClients
from services.gateway.settings import GatewaySettings
from shared.logging import configure_logging

# gunicorn_conf checks first; this guards other WSGI servers.
settings = GatewaySettings.from_env_or_exit("helpdesk-gateway")

configure_logging("gateway", settings.log_level)
clients = RpcClients(settings)
app = create_app(settings, clients)
