"""``make run``'s one address: live notices to ``helpdesk-stream``, the rest to the gateway.

In a deployment HAProxy routes ``/api/v1/notifications/stream`` to the stream
servers (``deploy/haproxy/haproxy.cfg``); locally this small asyncio router plays
that part, so the browser keeps one origin (``HELPDESK_HTTP_HOST``/``_PORT``) for
the pages, the API and the stream. It reads a request's head, picks the upstream
by its path, and from then on copies bytes both ways. Each connection carries one
request (``Connection: close`` is set on the way up), so the next request of a
browser's connection is routed afresh. For local use only: it neither terminates
TLS nor bounds slow clients as the load balancer does.

``python -m tools.localfront --listen HOST:PORT --gateway HOST:PORT --stream HOST:PORT``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

STREAM_PATHS = frozenset({"/api/v1/notifications/stream", "/api/v1/notifications/stream/"})
# Seconds a client has to send its request's head.
HEAD_TIMEOUT = 10.0
_DOWN = b'{"error": {"code": "service_unavailable", "message": "Not up yet.", "details": {}}}'
BAD_GATEWAY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_DOWN), _DOWN)
)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def route(head: bytes) -> str:
    """``"stream"`` for a request of the stream path, else ``"gateway"``."""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    path = parts[1].split("?", 1)[0] if len(parts) == 3 else ""
    return "stream" if path in STREAM_PATHS else "gateway"


def one_request(head: bytes) -> bytes:
    """The head with ``Connection: close`` in place of any Connection header."""
    lines = head[:-4].split(b"\r\n")
    kept = [line for line in lines[1:] if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Front:
    """Accepts connections and hands each to the upstream its request names."""

    def __init__(self, upstreams: dict):
        self.upstreams = upstreams

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstreams[route(head)])
        except OSError:
            writer.write(BAD_GATEWAY)
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        up_writer.write(one_request(head))
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))


async def serve(listen: tuple[str, int], upstreams: dict) -> None:
    """Serve until cancelled."""
    server = await asyncio.start_server(Front(upstreams).handle, *listen)
    async with server:
        await server.serve_forever()


def main(argv=None) -> int:
    """Route ``--listen`` to ``--gateway`` and ``--stream``."""
    parser = argparse.ArgumentParser(prog="python -m tools.localfront", description=__doc__)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--stream", required=True)
    args = parser.parse_args(argv)
    upstreams = {"gateway": _address(args.gateway), "stream": _address(args.stream)}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(_address(args.listen), upstreams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
