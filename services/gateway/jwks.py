"""Token keys from the host's identity provider (``HELPDESK_JWT_JWKS_URL``).

The host rotates its signing keys by publishing a new one in its JWKS and then
signing with it; the gateway picks a token's key by the token's ``kid``. Keys are
kept in memory; an unknown ``kid`` fetches the set again (that is how a new key is
learnt, with no restart), a set older than ``max_age`` is fetched again on the next
token (so a withdrawn key stops working), and either fetch happens at most once per
``min_interval``, so tokens with made-up ``kid``s cannot make the gateway hammer the
host. When the host cannot be reached the keys already known keep working.

The gateway's worker processes share what they fetch through one file
(``shared_file``: gunicorn's master names it in ``SHARED_FILE_VARIABLE``): a worker
that needs a key first reads the set another worker fetched, so a rotation learnt by
one worker is known to all, even once the host is down, and a set fetched by one
counts as the others' latest fetch for the interval.

PyJWT's ``PyJWKClient`` refetches on every unknown ``kid`` with no bound and has no
lock around its cache; the gateway's gthread workers share one instance, so this
small store does both itself. Only the pinned algorithm's keys are kept: a key's
``alg`` never chooses the algorithm (``jwt.decode`` is given the pinned one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable

import jwt

log = logging.getLogger(__name__)

MIN_INTERVAL = 30.0  # seconds between two fetches, whatever the tokens say
MAX_AGE = 300.0  # a set this old is fetched again, to drop withdrawn keys
FETCH_TIMEOUT = 5.0
MAX_BYTES = 1 << 20  # a key set is a few KiB; a bigger answer is not one
# Set by the gateway's gunicorn master for its workers: the file they share the set in.
SHARED_FILE_VARIABLE = "HELPDESK_GATEWAY_JWKS_FILE"


class UnknownKey(LookupError):
    """No known key matches the token's ``kid`` (and the set was not fetched again)."""


def fetch_url(url: str, timeout: float = FETCH_TIMEOUT) -> dict:
    """GET ``url`` and parse it as a JWKS document."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https/loopback only (config)
        return json.loads(response.read(MAX_BYTES + 1)[:MAX_BYTES])


def usable_keys(document: dict, algorithm: str) -> dict:
    """``{kid: key}`` of the signing keys in ``document`` that ``algorithm`` can use.

    Keys for other algorithms, encryption keys and keys PyJWT cannot read are
    skipped, so one odd key in the host's set does not take the others down.
    """
    keys = {}
    for data in (document.get("keys") or ()) if isinstance(document, dict) else ():
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        if data.get("alg", algorithm) != algorithm:
            continue
        try:
            key = jwt.PyJWK(data, algorithm=algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        keys[data.get("kid")] = key.key
    return keys


class KeySet:
    """The host's signing keys, fetched from a JWKS URL and kept; safe across threads."""

    def __init__(
        self,
        url: str,
        algorithm: str,
        *,
        fetch: Callable[[str], dict] = fetch_url,
        min_interval: float = MIN_INTERVAL,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        shared_file: str | None = None,
    ):
        self.url = url
        self.algorithm = algorithm
        self._fetch = fetch
        self.min_interval = min_interval
        self.max_age = max_age
        self._clock = clock
        self._keys: dict = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        # The workers of one machine share ``clock`` (CLOCK_MONOTONIC is system-wide),
        # so the fetch times written in the shared file compare with this process's.
        self.shared_file = shared_file
        self._shared_seen = None  # (mtime_ns, size) of the shared file last read
        self.fetches = 0  # attempts, for tests and the operator's curiosity

    def key_for(self, token: str):
        """The key that verifies ``token``, by its ``kid``; ``UnknownKey`` otherwise.

        A token without ``kid`` is accepted only while the set holds a single key.
        """
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise UnknownKey("unreadable token header") from None
        if not isinstance(kid, str | None):
            raise UnknownKey("kid must be a string")
        key = self._known(kid)
        if key is not None and not self._stale():
            return key
        # Known but stale: refresh if nobody else is, else use what we have.
        self._refresh(kid, wait=key is None)
        key = self._known(kid)
        if key is None:
            raise UnknownKey(f"no key for kid {kid!r}")
        return key

    def _known(self, kid):
        keys = self._keys
        if kid is None:
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age

    def _refresh(self, kid, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return  # another thread is fetching; the known key serves meanwhile
        try:
            self._adopt_shared()
            if self._known(kid) is not None and not self._stale():
                return  # another worker fetched it
            now = self._clock()
            if self._tried_at is not None and now - self._tried_at < self.min_interval:
                return
            self._tried_at = now
            self.fetches += 1
            try:
                document = self._fetch(self.url)
                keys = usable_keys(document, self.algorithm)
            except Exception as exc:  # the host is down or answered junk: keep what we know
                log.warning("jwks_fetch_failed", extra={"url": self.url, "error": repr(exc)})
                return
            if not keys:
                log.warning("jwks_no_usable_keys", extra={"url": self.url})
                return
            self._keys = keys
            self._fetched_at = self._clock()
            self._share(document)
        finally:
            self._lock.release()

    def _adopt_shared(self) -> None:
        """Take the set another worker fetched after this one's last fetch, if any."""
        if self.shared_file is None:
            return
        try:
            stat = os.stat(self.shared_file)
            if (stat.st_mtime_ns, stat.st_size) == self._shared_seen:
                return
            self._shared_seen = (stat.st_mtime_ns, stat.st_size)
            with open(self.shared_file, encoding="utf-8") as fh:
                shared = json.load(fh)
            fetched_at = float(shared["fetched_at"])
            keys = usable_keys(shared["document"], self.algorithm)
        except FileNotFoundError:
            return  # no worker has fetched yet
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("jwks_shared_file_unreadable", extra={"error": repr(exc)})
            return
        if keys and (self._fetched_at is None or fetched_at > self._fetched_at):
            self._keys = keys
            self._fetched_at = fetched_at
            # Its fetch counts as this worker's latest attempt for the interval.
            self._tried_at = max(self._tried_at or fetched_at, fetched_at)

    def _share(self, document: dict) -> None:
        """Write the set just fetched for the other workers (replaced atomically)."""
        if self.shared_file is None:
            return
        partial = f"{self.shared_file}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(partial, "w", encoding="utf-8") as fh:
                json.dump({"fetched_at": self._fetched_at, "document": document}, fh)
            os.replace(partial, self.shared_file)
        except OSError as exc:  # the others fetch for themselves
            log.warning("jwks_shared_file_unwritable", extra={"error": repr(exc)})
