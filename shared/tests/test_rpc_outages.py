"""The RPC entrypoint's answers when the database or the broker is away."""

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from shared.errors import NotFound, StorageUnavailable
from shared.rpc import _as_reply_error

pytestmark = pytest.mark.unit


def test_a_database_outage_reaches_the_caller_as_storage_unavailable():
    refused = sa_exc.OperationalError("connect", {}, psycopg.OperationalError("refused"))
    kind, error, _ = _as_reply_error((type(refused), refused, None))
    assert kind is StorageUnavailable and isinstance(error, StorageUnavailable)
    assert "refused" not in str(error)  # no driver text leaks to the client


def test_other_errors_pass_unchanged():
    missing = NotFound("no such ticket")
    assert _as_reply_error((NotFound, missing, None))[1] is missing
    assert _as_reply_error(None) is None
