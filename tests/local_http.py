"""A tiny HTTP server on 127.0.0.1 for tests that play another party (the host's
identity provider, the host's own pages)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalSite:
    """Serves ``GET`` with ``respond(path) -> (status, content_type, body) | None``
    (None is a 404), on ``port`` (0: any free one), in a background thread."""

    def __init__(self, respond: Callable[[str], tuple[int, str, bytes] | None], port: int = 0):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                answer = respond(self.path)
                if answer is None:
                    self.send_error(404)
                    return
                status, content_type, body = answer
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass  # the test's output stays readable

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
