"""Idempotency keys in a service's database (real PostgreSQL): replay, refusal,
in-progress, per caller, expiry, pruning, and the answer sealed at rest."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from shared.crypto import Keyring, TamperedValue, generate_key, key_id_of
from shared.db import Connections, UnitOfWork
from shared.errors import Conflict, ValidationFailed
from shared.idempotency import (
    HEADER,
    IdempotencyKeys,
    IdempotentRequest,
    RpcCall,
    fingerprint,
    prune,
)
from tests.stack import open_engine

pytestmark = pytest.mark.integration

KEYRING = Keyring.from_spec(f"k1={generate_key()}")
CREATE = fingerprint("POST", "/api/v1/tickets", {}, {"subject": "Charts stay empty"})
OTHER = fingerprint("POST", "/api/v1/tickets", {}, {"subject": "Something else"})
ANSWER = {"id": 42, "description": "The charts stay empty on every dashboard I open."}


@pytest.fixture
def engine(own_tickets_database_url):
    with open_engine(own_tickets_database_url, 3, truncate=("idempotency_keys",)) as engine:
        yield engine


def request(caller="alice", key="k1", digest=CREATE):
    return IdempotentRequest(caller, key, digest)


def run(engine, req, answer=ANSWER, commit=True):
    """One command: claim; replay, or act (nothing here) and remember."""
    with engine.connect() as db:
        keys = IdempotencyKeys(db, KEYRING)
        claim = keys.claim(req)
        if claim.replay is not None:
            return "replay", claim.replay
        claim.check()
        keys.remember(claim, answer)
        if commit:
            db.commit()
        return "ran", answer


def test_the_same_request_again_is_answered_as_the_first_was(engine):
    assert run(engine, request()) == ("ran", ANSWER)
    assert run(engine, request(), answer={"id": 43}) == ("replay", ANSWER)


def test_a_replay_keeps_the_first_answers_key_order(engine):
    # The gateway serializes what it gets: the same order is the same bytes.
    answer = {"id": 1, "author": "user", "body": "one"}
    run(engine, request(), answer=answer)
    _, replayed = run(engine, request())
    assert list(replayed) == ["id", "author", "body"]


def test_the_same_key_for_another_request_is_refused(engine):
    run(engine, request())
    with pytest.raises(ValidationFailed):
        run(engine, request(digest=OTHER))


def test_a_repeat_while_the_first_is_in_progress_is_a_conflict_not_a_wait(engine):
    with engine.connect() as first:
        IdempotencyKeys(first, KEYRING).claim(request())  # holds the key, not committed
        with pytest.raises(Conflict):
            run(engine, request())
        run(engine, request(key="k2"))  # another key is not held up
        first.rollback()
    assert run(engine, request()) == ("ran", ANSWER)


def test_a_request_that_failed_stored_nothing_and_runs_again(engine):
    run(engine, request(), commit=False)
    assert run(engine, request()) == ("ran", ANSWER)


def test_keys_are_per_caller(engine):
    run(engine, request("alice"))
    assert run(engine, request("bob"), answer={"id": 7}) == ("ran", {"id": 7})
    assert run(engine, request("bob"), answer={"id": 8}) == ("replay", {"id": 7})


def test_a_key_older_than_a_day_no_longer_matches_and_is_pruned(engine):
    run(engine, request(key="old"))
    run(engine, request(key="new"))
    with engine.begin() as db:
        db.execute(
            sa.text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE key = 'old'"
            )
        )
    # Expired: the key runs again, even for another request, and its row is replaced.
    assert run(engine, request(key="old", digest=OTHER), answer={"id": 2}) == ("ran", {"id": 2})
    assert run(engine, request(key="old", digest=OTHER)) == ("replay", {"id": 2})
    with engine.begin() as db:
        db.execute(
            sa.text(
                "INSERT INTO idempotency_keys (caller_id, key, response, created_at) "
                "SELECT 'carol', 'k' || n, 'x', now() - interval '2 days' "
                "FROM generate_series(1, 25) AS n"
            )
        )
    uow = UnitOfWork(Connections(engine))
    assert prune(uow, batch=10, max_batches=2) == 20  # bounded per call
    assert prune(uow, batch=10) == 5
    with engine.connect() as db:
        left = db.execute(sa.text("SELECT key FROM idempotency_keys ORDER BY key")).scalars()
        assert list(left) == ["new", "old"]


def test_the_stored_answer_is_sealed_and_bound_to_its_row(engine):
    run(engine, request())
    with engine.connect() as db:
        row = db.execute(sa.text("SELECT id, response FROM idempotency_keys")).one()
    assert key_id_of(row.response) == "k1"
    assert "charts" not in row.response.lower() and CREATE not in row.response


def test_an_answer_moved_to_another_caller_does_not_open(engine):
    run(engine, request("alice"))
    with engine.begin() as db:
        db.execute(sa.text("UPDATE idempotency_keys SET caller_id = 'mallory'"))
    with pytest.raises(TamperedValue):
        run(engine, request("mallory"))


def call(correlation_id="c-1", redelivered=False, expiration="5000", caller="alice"):
    return IdempotentRequest.for_call(caller, RpcCall(correlation_id, redelivered, expiration))


def test_a_call_delivered_again_replays_and_a_first_delivery_only_stores(engine):
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with engine.connect() as db:
        keys = IdempotencyKeys(db, KEYRING)
        claim = keys.claim(call())
        assert sent == []  # a new correlation id: no lock, no look-up
        keys.remember(claim, ANSWER)
        db.commit()
    assert len(sent) == 1  # the row, with an id of its own drawing
    with engine.connect() as db:  # above any id the sequence gives the keys' rows
        assert db.execute(sa.text("SELECT id FROM idempotency_keys")).scalar_one() >= 2**62
    assert run(engine, call(redelivered=True), answer={"id": 2}) == ("replay", ANSWER)
    assert run(engine, call("c-2", redelivered=True), answer={"id": 2}) == ("ran", {"id": 2})


def test_a_call_cannot_take_a_client_key_nor_another_callers_call(engine):
    client = request(key=call().key.encode("ascii", "replace").decode())  # "?call:c-1"
    run(engine, call())
    assert run(engine, client, answer={"id": 9}) == ("ran", {"id": 9})
    assert run(engine, call(caller="bob", redelivered=True), answer={"id": 3})[0] == "ran"
    with pytest.raises(ValidationFailed):  # a client may not send the call namespace
        IdempotentRequest.from_rpc("alice", {"key": call().key, "fingerprint": CREATE})


def test_two_deliveries_of_one_call_never_both_commit(engine):
    run(engine, call())
    with pytest.raises(Conflict) as refused:  # a second first delivery: the unique key
        run(engine, call())
    assert HEADER not in refused.value.details  # not about a client's Idempotency-Key
    # Redelivered while the first delivery is still in its transaction: the second one
    # finds nothing, acts, then waits on the first's row and is refused when it commits.
    with engine.connect() as first:
        keys = IdempotencyKeys(first, KEYRING)
        keys.remember(keys.claim(call("c-2")), ANSWER)
        second = ThreadPoolExecutor(1).submit(run, engine, call("c-2", redelivered=True))
        time.sleep(0.3)
        assert not second.done()  # held by the first's uncommitted row
        first.commit()
    with pytest.raises(Conflict):
        second.result(timeout=5)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT count(*) FROM idempotency_keys")).scalar_one() == 2


def test_call_rows_are_pruned_after_minutes_keys_and_unexpiring_calls_after_a_day(engine):
    run(engine, request(key="client"))
    run(engine, call("short"))
    run(engine, call("unbounded", expiration=None))
    kept = call("unbounded", expiration=None).key
    with engine.begin() as db:
        db.execute(sa.text("UPDATE idempotency_keys SET created_at = now() - interval '1 hour'"))
    uow = UnitOfWork(Connections(engine))
    assert prune(uow) == 0  # without calls, only keys past a day
    assert prune(uow, calls=True) == 1
    with engine.connect() as db:
        left = db.execute(sa.text("SELECT key FROM idempotency_keys ORDER BY key")).scalars()
        assert sorted(left) == sorted(["client", kept])
