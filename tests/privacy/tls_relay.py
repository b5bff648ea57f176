"""A TLS front for a local plain-TCP server, for tests: ``python -m tests.privacy.tls_relay
LISTEN_PORT CERT KEY TARGET_PORT``.

Accepts only TLS (1.2+) on 127.0.0.1:LISTEN_PORT and relays the decrypted bytes to
127.0.0.1:TARGET_PORT, so the local RabbitMQ can be reached as ``amqps://`` without
reconfiguring it. A client that does not speak TLS gets its connection closed.
Stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading


def _pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve(client, context, target_port):
    try:
        tls = context.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        client.close()  # not TLS, or the client refused our certificate
        return
    upstream = socket.create_connection(("127.0.0.1", target_port))
    threading.Thread(target=_pipe, args=(upstream, tls), daemon=True).start()
    _pipe(tls, upstream)


def main(argv) -> None:
    port, cert, key, target = int(argv[0]), argv[1], argv[2], int(argv[3])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, context, target), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
