"""Fixtures the shared library's tests share (the session's own are in /conftest.py)."""

import pytest

from tests.stack import migrated_database


@pytest.fixture(scope="module")
def own_tickets_database_url(request, run_id):
    """A migrated tickets database for this module alone, dropped after it: for tests
    that leave rows (sealed under their own key, or never published) which a tickets
    process on the session's database must not meet."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with migrated_database(f"t{run_id}_{module}", "tickets") as url:
        yield url
