"""Bearer-token verification: the gateway trusts the host platform's signature only.

The algorithm is pinned by configuration (``FrontSettings.jwt_algorithm``); the token
header's ``alg`` is never trusted, so ``none`` or an HS256 token forged with a
public key as secret are refused. ``sub``, ``role`` and ``exp`` are required;
``iss``/``aud`` are checked when configured. The key is the configured secret or
public key, or (``HELPDESK_JWT_JWKS_URL``) the host's key named by the token's
``kid`` (``jwks.KeySet``). ``exp``/``nbf``/``iat`` allow ``LEEWAY`` seconds of
clock difference between the host and the gateway.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from services.gateway.errors import Unauthorized
from services.gateway.jwks import SHARED_FILE_VARIABLE, KeySet, UnknownKey
from services.gateway.settings import FrontSettings
from shared.catalog import ADMIN_ROLE, ROLES
from shared.ids import MAX_ID_LENGTH
from shared.text import is_text

MAX_NAME_LENGTH = 200
# Verified tokens remembered per process: a client sends the same token on every
# request, and checking its signature is half the gateway's own work per request.
CACHE_SIZE = 4096
# Seconds of clock difference tolerated on exp/nbf/iat: the host's clock and ours
# are never exactly alike, and a token minted "now" must not be "not yet valid".
# Kept to seconds (NTP keeps hosts that close): every second of it is a second an
# expired token is still honoured.
LEEWAY = 5


@dataclass(frozen=True)
class Actor:
    """The verified caller, as the services expect it (``actor`` in every RPC call)."""

    id: str
    role: str
    name: str | None = None

    @property
    def admin(self) -> bool:
        return self.role == ADMIN_ROLE

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role}


class TokenVerifier:
    """Verifies bearer tokens against the configured key and algorithm."""

    def __init__(self, settings: FrontSettings, key_set: KeySet | None = None):
        self.algorithm = settings.jwt_algorithm
        self.key = settings.jwt_secret if self.algorithm == "HS256" else settings.jwt_public_key
        if key_set is None and settings.jwt_jwks_url:
            key_set = KeySet(
                settings.jwt_jwks_url,
                self.algorithm,
                min_interval=settings.jwt_jwks_min_interval,
                # Under gunicorn, the file the master gave its workers to share the set.
                shared_file=os.environ.get(SHARED_FILE_VARIABLE),
            )
        self.key_set = key_set
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.options = {
            "require": ["exp", "sub", "role"],
            "verify_signature": True,
            "verify_exp": True,
            "verify_aud": self.audience is not None,
            "verify_iss": self.issuer is not None,
        }
        self._verified: OrderedDict[str, tuple[Actor, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> Actor:
        """The actor of an ``Authorization`` header value; ``Unauthorized`` otherwise."""
        return self.verify_until(authorization)[0]

    def verify_until(self, authorization: str | None) -> tuple[Actor, float]:
        """The actor and the moment (epoch seconds) the token stops being accepted:
        its ``exp`` plus the leeway (a live stream closes then); ``Unauthorized``."""
        if not authorization:
            raise Unauthorized("A bearer token is required.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
        # Only tokens that passed every check are remembered, and only until they expire:
        # the same string carries the same signature, so it would pass again.
        with self._lock:
            hit = self._verified.get(token)
            if hit is not None:
                self._verified.move_to_end(token)
        if hit is not None and hit[1] > time.time():
            return hit
        actor, expires = self._decode(token)
        with self._lock:
            self._verified[token] = (actor, expires)
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        return actor, expires

    def _decode(self, token: str) -> tuple[Actor, float]:
        try:
            key = self.key_set.key_for(token) if self.key_set is not None else self.key
        except UnknownKey:
            raise Unauthorized("The token is invalid.") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                options=self.options,
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is invalid.") from None
        return _actor(claims), float(claims["exp"]) + LEEWAY


def _actor(claims: dict) -> Actor:
    sub, role, name = claims.get("sub"), claims.get("role"), claims.get("name")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_ID_LENGTH or not is_text(sub):
        raise Unauthorized(
            f"The token's sub claim must be a non-empty text of at most {MAX_ID_LENGTH} characters."
        )
    if role not in ROLES:
        raise Unauthorized("The token's role claim must be user or admin.")
    if name is not None and (
        not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not is_text(name)
    ):
        raise Unauthorized(
            f"The token's name claim must be a text of at most {MAX_NAME_LENGTH} characters."
        )
    return Actor(id=sub, role=role, name=name or None)
