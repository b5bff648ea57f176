"""Mint JWTs for local use: ``helpdesk-token --sub alice --role user --name Alice``.

The host platform signs real tokens; this command (and the development sign-in
page) signs with the gateway's own development settings, so a local stack can
be tried from a shell or a browser. It refuses to mint in production.
"""

from __future__ import annotations

import argparse
import sys
import time

import jwt

from services.gateway.settings import FrontSettings
from shared.catalog import ROLES, USER_ROLE


def mint_token(
    settings: FrontSettings,
    sub: str,
    role: str,
    name: str | None = None,
    lifetime: int = 3600,
    private_key: str | None = None,
) -> str:
    """A signed token with ``sub``, ``role``, ``exp`` (and ``name``, ``iss``, ``aud`` when set).

    HS256 signs with the configured secret; RS256/ES256 need ``private_key``.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not sub:
        raise ValueError("sub must not be empty")
    now = int(time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + int(lifetime)}
    if name:
        claims["name"] = name
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    key = settings.jwt_secret if settings.jwt_algorithm == "HS256" else private_key
    if not key:
        raise ValueError(f"{settings.jwt_algorithm} needs a private key to sign")
    return jwt.encode(claims, key, algorithm=settings.jwt_algorithm)


def main(argv=None) -> int:
    """Print a token for the given identity to stdout."""
    parser = argparse.ArgumentParser(prog="helpdesk-token", description=__doc__.splitlines()[0])
    parser.add_argument("--sub", required=True, help="the user id (JWT sub)")
    parser.add_argument("--role", choices=ROLES, default=USER_ROLE)
    parser.add_argument("--name", help="display name shown in threads")
    parser.add_argument("--lifetime", type=int, default=8 * 3600, help="seconds (default 8 h)")
    parser.add_argument("--private-key-file", help="PEM private key for RS256/ES256")
    args = parser.parse_args(argv)
    settings = FrontSettings.from_env_or_exit("helpdesk-token")
    if settings.production:
        print("helpdesk-token: refusing to mint tokens in production", file=sys.stderr)
        return 2
    private_key = None
    if args.private_key_file:
        with open(args.private_key_file, encoding="utf-8") as fh:
            private_key = fh.read()
    try:
        print(mint_token(settings, args.sub, args.role, args.name, args.lifetime, private_key))
    except ValueError as exc:
        print(f"helpdesk-token: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
