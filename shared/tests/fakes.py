"""In-memory stand-ins for the shared stores, for the services' handler unit tests."""

from __future__ import annotations

import contextlib
import copy

from shared.errors import Conflict
from shared.idempotency import NO_KEY, Claim


class FakeIdempotencyKeys:
    """``IdempotencyKeys`` on a dict ``(caller, key) -> (fingerprint, answer)`` (no
    locks: one caller at a time here)."""

    def __init__(self, keys: dict):
        self.keys = keys

    def claim(self, request) -> Claim:
        """The claim on ``request``'s key: a replay, a mismatch, or a fresh key."""
        if request is None:
            return NO_KEY
        claim = Claim(request)
        if request.first_delivery:  # as the real one: a new call is not looked up
            return claim
        kept = self.keys.get((request.caller_id, request.key))
        if kept is not None:
            if kept[0] == request.fingerprint:
                claim.replay = copy.deepcopy(kept[1])
            else:
                claim.mismatch = True
        return claim

    def remember(self, claim: Claim, response) -> None:
        """Keep a keyed command's (or call's) answer for its repeats; a key kept
        meanwhile is a ``Conflict``, as the table's unique key makes it."""
        if claim.request is not None:
            request = claim.request
            if (request.caller_id, request.key) in self.keys:
                raise Conflict("Already answered.")
            self.keys[request.caller_id, request.key] = (
                request.fingerprint,
                copy.deepcopy(response),
            )


class FakeTransactions:
    """``shared.db.UnitOfWork``'s transaction in memory, for a service's fake unit of
    work: ``with uow: ...; uow.commit()`` rolls ``store`` back unless committed
    (copied on entry, restored on exit), ``with uow.autocommit(): ...`` keeps every
    change. A subclass builds its repositories in ``attach(True)`` and drops them in
    ``attach(False)``, as the real one attaches a connection."""

    def __init__(self, store):
        self.store = store
        self.commits = 0
        self._before = None

    def attach(self, live: bool) -> None:
        """Build (``live``) or drop the repositories on ``self.store``."""
        raise NotImplementedError

    def __enter__(self):
        self._before = copy.deepcopy(self.store)
        self.attach(True)
        return self

    def __exit__(self, *exc_info):
        if self._before is not None:  # not committed: roll back
            self.store.__dict__.update(self._before.__dict__)
        self._before = None
        self.attach(False)

    @contextlib.contextmanager
    def autocommit(self):
        """Changes kept as they are made, with no transaction."""
        self.attach(True)
        try:
            yield self
        finally:
            self.attach(False)

    def commit(self) -> None:
        """Keep this transaction's changes."""
        self._before = None
        self.commits += 1
