"""``helpdesk-gateway``: serve the HTTP API and the pages (gunicorn, the gateway's settings).

Arguments are gunicorn's and go before the app, e.g. ``helpdesk-gateway --check-config``;
every setting comes from the environment (``services/gateway/gunicorn_conf.py``).
"""

import sys

CONFIG = "python:services.gateway.gunicorn_conf"
APP = "services.gateway.wsgi:app"


def main(argv=None) -> int:
    """Run gunicorn with the gateway's config and app; returns only through ``SystemExit``."""
    from gunicorn.app.wsgiapp import WSGIApplication

    args = sys.argv[1:] if argv is None else list(argv)
    sys.argv = ["helpdesk-gateway", "--config", CONFIG, *args, APP]
    WSGIApplication("%(prog)s [OPTIONS]").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
