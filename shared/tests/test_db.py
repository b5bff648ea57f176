"""The database plumbing every service uses: pooled connections and units of work.

Against the real PostgreSQL: a pooled connection that died while idle is replaced
before anyone sees it; one that dies while busy fails once and takes the stale
pool with it; autocommit reads never leak autocommit into a later transaction;
and a unit of work keeps nothing it did not commit.
"""

import pytest
import sqlalchemy as sa

from shared import db
from shared.db import Connections, UnitOfWork, make_engine, pool_options
from tests.stack import open_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tickets_database_url):
    with open_engine(tickets_database_url) as engine:
        yield engine


@pytest.fixture
def scratch(engine):
    """A table of its own for this module's writes."""
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS db_test_rows (n int)"))
        connection.execute(sa.text("TRUNCATE db_test_rows"))
    yield
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE db_test_rows"))


def _backend_pid(connection) -> int:
    return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(engine, pid: int) -> None:
    # A separate, unpooled connection: the victim's own pool must not be involved.
    with sa.create_engine(engine.url, poolclass=sa.pool.NullPool).connect() as killer:
        assert killer.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()


def test_a_connection_that_died_while_idle_is_replaced_unseen(engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    with engine.connect() as connection:
        victim = _backend_pid(connection)
    _terminate(engine, victim)

    with engine.connect() as connection:  # pinged on checkout, found dead, replaced
        assert _backend_pid(connection) != victim


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)  # every connection counts as busy
    with engine.connect() as connection:
        victim = _backend_pid(connection)
    _terminate(engine, victim)

    with pytest.raises(sa.exc.OperationalError) as failure, engine.connect() as connection:
        _backend_pid(connection)
    assert failure.value.connection_invalidated
    with engine.connect() as connection:  # the stale pool was discarded
        assert _backend_pid(connection) != victim


@pytest.mark.parametrize("own_pool", [False, True], ids=["shared pool", "own pool"])
def test_autocommit_reads_do_not_leak_into_transactions(
    engine, scratch, tickets_database_url, own_pool
):
    connections = (
        Connections.open(tickets_database_url, pool_size=2) if own_pool else Connections(engine)
    )
    for _ in range(3):  # the pool of two hands the same connections around
        with connections.autocommit() as reader:
            assert reader.connection.dbapi_connection.autocommit is True
            assert reader.execute(sa.text("SELECT count(*) FROM db_test_rows")).scalar() == 0
        with connections.transaction() as writer:
            assert writer.connection.dbapi_connection.autocommit is False
            writer.execute(sa.text("INSERT INTO db_test_rows VALUES (1)"))
            # Not committed: closing rolls back.
    with connections.autocommit() as reader:
        assert reader.execute(sa.text("SELECT count(*) FROM db_test_rows")).scalar() == 0
    if own_pool:
        connections.dispose()


class _Rows(UnitOfWork):
    def attach(self, connection):
        self.rows = connection


def test_a_unit_of_work_keeps_only_what_it_committed(engine, scratch):
    connections = Connections(engine)
    with _Rows(connections) as uow:
        uow.rows.execute(sa.text("INSERT INTO db_test_rows VALUES (1)"))
        uow.commit()
    with pytest.raises(RuntimeError), _Rows(connections) as uow:
        uow.rows.execute(sa.text("INSERT INTO db_test_rows VALUES (2)"))
        raise RuntimeError("the handler failed half-way")
    with _Rows(connections) as uow:
        uow.rows.execute(sa.text("INSERT INTO db_test_rows VALUES (3)"))  # never committed

    uow = _Rows(connections)
    with uow.autocommit():
        values = uow.rows.execute(sa.text("SELECT n FROM db_test_rows")).scalars().all()
    assert values == [1]
    assert uow.rows is None and uow.connection is None  # nothing held after the block
    assert engine.pool.checkedout() == 0


def test_the_pool_settings_size_each_pool(make_settings, tickets_database_url):
    settings = make_settings(HELPDESK_DB_POOL_SIZE="3", HELPDESK_DB_MAX_OVERFLOW="0")
    connections = Connections.open(tickets_database_url, **pool_options(settings))
    try:
        for engine in (connections.engine, connections._autocommit):
            assert (engine.pool.size(), engine.pool._max_overflow) == (3, 0)
    finally:
        connections.dispose()


def test_behind_a_transaction_pooler_nothing_is_prepared(make_settings, tickets_database_url):
    """psycopg prepares a statement on the server after 5 runs; behind PgBouncer in
    transaction pooling that statement would be missing on the next server connection."""
    for pooler, prepared in (("false", True), ("true", False)):
        settings = make_settings(HELPDESK_DB_TRANSACTION_POOLER=pooler)
        engine = make_engine(tickets_database_url, **pool_options(settings, 1))
        try:
            with engine.connect() as conn:
                for _ in range(8):
                    conn.execute(sa.text("SELECT 1")).scalar()
                count = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
                assert (count.scalar() > 0) is prepared, pooler
        finally:
            engine.dispose()
