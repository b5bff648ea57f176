"""The idempotency rules that need no database: keys, fingerprints, the RPC argument."""

import pytest

from shared.errors import ValidationFailed
from shared.idempotency import (
    HEADER,
    Claim,
    IdempotentRequest,
    fingerprint,
    key_problems,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("key", ["a", "x" * 255, "order-42:retry/1", " ~!\"#$%&'()*+,-./"])
def test_a_key_of_1_to_255_printable_ascii_characters_is_accepted(key):
    assert key_problems(key) == []


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "tab\there", "caf\u00e9", "line\nbreak", "\x7f", None]
)
def test_any_other_key_is_refused(key):
    assert key_problems(key)


def test_the_fingerprint_ignores_spelling_but_not_meaning():
    route = "/api/v1/tickets/{ticket_id}/messages"
    one = fingerprint("POST", route, {"ticket_id": 7}, {"body": "Thanks", "x": [1, 2]})
    assert one == fingerprint("post", route, {"ticket_id": 7}, {"x": [1, 2], "body": "Thanks"})
    assert one != fingerprint("POST", route, {"ticket_id": 7}, {"body": "Thanks!", "x": [1, 2]})
    assert one != fingerprint("POST", route, {"ticket_id": 8}, {"body": "Thanks", "x": [1, 2]})
    other_route = "/api/v1/admin/tickets/{ticket_id}/messages"
    assert one != fingerprint(
        "POST", other_route, {"ticket_id": 7}, {"body": "Thanks", "x": [1, 2]}
    )
    assert len(one) == 64 and int(one, 16) >= 0


def test_the_rpc_argument_is_checked_again_by_the_service():
    digest = fingerprint("POST", "/api/v1/tickets", {}, {})
    assert IdempotentRequest.from_rpc("alice", None) is None
    request = IdempotentRequest.from_rpc("alice", {"key": "k1", "fingerprint": digest})
    assert request == IdempotentRequest("alice", "k1", digest)
    for bad in ({"key": "", "fingerprint": digest}, {"key": "k1", "fingerprint": "zz"}, "k1", {}):
        with pytest.raises(ValidationFailed) as refused:
            IdempotentRequest.from_rpc("alice", bad)
        assert HEADER in refused.value.details


def test_keys_are_per_caller_down_to_the_lock():
    digest = "0" * 64
    locks = {
        IdempotentRequest(caller, key, digest).lock_id
        for caller, key in [
            ("alice", "k1"),
            ("bob", "k1"),
            ("alice", "k2"),
            ("ab", "c"),
            ("a", "bc"),
        ]
    }
    assert len(locks) == 5
    assert all(-(2**63) <= lock < 2**63 for lock in locks)


def test_a_key_used_for_another_request_is_a_422_naming_the_header():
    Claim().check()  # no key, nothing to refuse
    with pytest.raises(ValidationFailed) as refused:
        Claim(mismatch=True).check()
    assert list(refused.value.details) == [HEADER]
