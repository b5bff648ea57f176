"""Which failures the event entrypoint retries in place, and how long it pauses."""

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from services.notifications.extensions import RETRY_CAP, backoff
from shared.db import database_unreachable

pytestmark = pytest.mark.unit


def test_pauses_double_up_to_the_cap():
    assert [backoff(n) for n in range(4)] == [0.2, 0.4, 0.8, 1.6]
    assert backoff(30) == RETRY_CAP


def test_connection_failures_are_an_outage():
    refused = sa_exc.OperationalError("connect", {}, psycopg.OperationalError("refused"))
    assert database_unreachable(refused)
    assert database_unreachable(sa_exc.TimeoutError("pool exhausted"))


def test_other_failures_are_not():
    denied = sa_exc.ProgrammingError("INSERT", {}, psycopg.errors.InsufficientPrivilege("no"))
    assert not database_unreachable(denied)
    assert not database_unreachable(ValueError("a bug"))
