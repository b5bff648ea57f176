"""A host identity provider for tests: a JWKS served on 127.0.0.1, and tokens signed
with its keys. Keys can be rotated, and the server taken down and brought back."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHMS = {"RS256": jwt.algorithms.RSAAlgorithm, "ES256": jwt.algorithms.ECAlgorithm}


def new_private_key(algorithm: str):
    """A fresh signing key for ``algorithm`` (RS256 or ES256)."""
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksHost:
    """The host's keys, published at ``url`` (``/.well-known/jwks.json``)."""

    def __init__(self, algorithm: str = "RS256"):
        self.algorithm = algorithm
        self.keys: dict = {}  # kid -> private key, in the published set
        self.signing_kid = None
        self.requests = 0
        self.down = False
        self.rotate()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                host.requests += 1
                if host.down:
                    self.send_error(503)
                    return
                body = json.dumps(host.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def document(self) -> dict:
        """The JWKS: the public half of every published key."""
        keys = []
        for kid, private in self.keys.items():
            data = json.loads(ALGORITHMS[self.algorithm].to_jwk(private.public_key()))
            data.update(kid=kid, use="sig", alg=self.algorithm)
            keys.append(data)
        return {"keys": keys}

    def rotate(self, drop_old: bool = False) -> str:
        """Publish a new key and sign with it from now on; return its kid."""
        kid = f"k-{uuid.uuid4().hex[:8]}"
        if drop_old:
            self.keys.clear()
        self.keys[kid] = new_private_key(self.algorithm)
        self.signing_kid = kid
        return kid

    def token(self, sub="alice", role="user", kid=None, lifetime=600, **claims) -> str:
        """A token signed with the current key (or ``kid``'s), naming its kid."""
        kid = kid or self.signing_kid
        now = int(time.time())
        body = {"sub": sub, "role": role, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(body, self.keys[kid], self.algorithm, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
