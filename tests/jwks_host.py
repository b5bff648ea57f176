"""A host identity provider for tests: a JWKS served on 127.0.0.1, and tokens signed
with its keys. Keys can be rotated, and the server taken down and brought back."""

from __future__ import annotations

import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.local_http import LocalSite

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
        self.site = LocalSite(self._respond)
        self.url = f"http://127.0.0.1:{self.site.port}/.well-known/jwks.json"

    def _respond(self, path):
        self.requests += 1
        if self.down:
            return 503, "text/plain", b"down"
        return 200, "application/json", json.dumps(self.document()).encode()

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
        self.site.close()
