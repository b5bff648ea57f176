"""The database dependency for nameko services (SQLAlchemy 2 Core, psycopg 3).

``Database`` is a nameko ``DependencyProvider``: one engine per service container,
handed to workers as ``Connections``, from which a unit of work takes either a
connection for one transaction (``transaction()``) or an autocommit connection for
reads (``autocommit()``). Core connections, not ORM sessions: the services map
rows to dicts themselves, and a session's bookkeeping was a measurable share of
each call's CPU (``docs/benchmarks.md``). ``nameko-sqlalchemy`` does not support
SQLAlchemy 2, hence this small replacement.

Import ``shared.green`` before this module in a nameko process (psycopg's wait
function must be chosen first).
"""

from __future__ import annotations

import contextlib
import time

import psycopg  # noqa: F401  (see below)
import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from shared.config import sqlalchemy_url

# psycopg is imported eagerly above: SQLAlchemy imports the driver lazily when an
# engine is created, and nameko sets up extensions concurrently in green threads,
# so two engines created at once would race on a half-imported module.


def database_unreachable(exc: BaseException) -> bool:
    """True for errors that say the database cannot be reached, not that the work is bad."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)


# A pooled connection idle for longer than this is pinged before it is lent.
PING_AFTER_IDLE = 1.0


def make_engine(
    url: str,
    pool_size: int = 10,
    max_overflow: int | None = None,
    *,
    transaction_pooler: bool = False,
    **kwargs,
) -> sa.Engine:
    """An engine for a ``postgresql://`` URL whose pool never lends a dead connection.

    It keeps up to ``pool_size`` connections and opens up to ``max_overflow`` more
    under a burst (``pool_size`` more when None). A connection that sat idle for over
    ``PING_AFTER_IDLE`` seconds is pinged when
    checked out (a dead one is replaced, invisibly to the caller); a busy one is not,
    which saves a round trip per call under load. A connection that dies while busy
    fails its statement, and SQLAlchemy then discards every connection pooled before
    it, so a database restart costs at most the calls in flight at that moment.

    ``transaction_pooler``: the URL leads to a PgBouncer in transaction pooling mode
    (``HELPDESK_DB_TRANSACTION_POOLER``), which lends a different server connection to
    each transaction: psycopg's automatic server-side prepared statements are turned
    off, since one prepared on one server connection is missing on the next.
    Nothing else here keeps session state (advisory locks are transaction-scoped;
    no LISTEN, no SET, no server-side cursors).
    """
    if transaction_pooler:
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    engine = sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_recycle=1800,
        **kwargs,
    )
    sa.event.listen(engine, "checkin", _note_idle_since)
    sa.event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
    return engine


def _note_idle_since(dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect):
    def checkout(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # The pool retries the checkout with a fresh connection.
            raise sa.exc.DisconnectionError(f"pooled connection is dead: {exc}") from exc

    return checkout


def pool_options(settings, pool_size: int | None = None) -> dict:
    """``make_engine``'s pool options from the ``HELPDESK_DB_*`` settings; a
    ``pool_size`` given (a background task's one connection) replaces the setting's
    and allows no overflow beyond one."""
    if pool_size is not None:
        return {
            "pool_size": pool_size,
            "max_overflow": 1,
            "transaction_pooler": settings.db_transaction_pooler,
        }
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "transaction_pooler": settings.db_transaction_pooler,
    }


class Connections:
    """Where units of work get their database connections.

    Transactions come from ``engine``; autocommit reads from ``autocommit_engine``,
    a pool of its own whose connections stay in autocommit (switching a pooled
    connection's mode on every checkout and back cost a read about a fifth of its
    CPU). Without one, reads switch ``engine``'s connections (tools and tests).
    """

    def __init__(self, engine: sa.Engine, autocommit_engine: sa.Engine | None = None):
        self.engine = engine
        self._autocommit = autocommit_engine or engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )

    @classmethod
    def open(cls, url: str, **pool) -> Connections:
        """Both pools for a database URL, each made with ``make_engine(url, **pool)``."""
        return cls(
            make_engine(url, **pool),
            make_engine(url, **pool, isolation_level="AUTOCOMMIT"),
        )

    def transaction(self) -> sa.Connection:
        """A connection whose first statement begins a transaction (the caller commits)."""
        return self.engine.connect()

    def autocommit(self) -> sa.Connection:
        """A connection without a transaction: each statement sees the latest commits.

        For reads, and for single statements that are atomic by themselves; one
        statement is one consistent snapshot, and nothing costs a BEGIN or a
        ROLLBACK round trip.
        """
        return self._autocommit.connect()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self._autocommit.dispose()


class Database(DependencyProvider):
    """Give workers ``Connections`` on the service's database.

    ``url_setting`` names the ``Settings`` attribute holding the database URL. The
    units of work close what they open: leaving their ``with`` block rolls back and
    returns the connection to the pool.
    """

    def __init__(self, url_setting: str):
        self.url_setting = url_setting
        self.connections: Connections | None = None

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        # HELPDESK_DB_POOL_SIZE defaults to one connection per concurrent worker
        # (max_workers, 10), so workers never queue for one; smaller budgets trade
        # that for fewer connections (docs/operations.md, "Connection budgets").
        self.connections = Connections.open(
            getattr(settings, self.url_setting), **pool_options(settings)
        )

    def stop(self):
        if self.connections is not None:
            self.connections.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx) -> Connections:
        return self.connections


class UnitOfWork:
    """The base of the services' units of work: one transaction, or reads without one.

    ``with uow: ...; uow.commit()`` runs a command in a transaction; leaving the
    block rolls back whatever was not committed and returns the connection.
    ``with uow.autocommit(): ...`` runs without a transaction: queries (each
    statement reads the latest commits) and writes that are one statement, atomic
    by itself; no BEGIN/COMMIT/ROLLBACK round trips are paid.
    Subclasses attach their repositories to the connection in ``attach``.
    """

    def __init__(self, connections: Connections):
        self.connections = connections
        self.connection: sa.Connection | None = None

    def attach(self, connection: sa.Connection | None) -> None:
        """Point the repositories at ``connection`` (None: the work is over)."""

    def __enter__(self):
        self._open(self.connections.transaction())
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.rollback()
        finally:
            self._close()

    @contextlib.contextmanager
    def autocommit(self):
        """The repositories on an autocommit connection, returned after: for queries,
        and for work whose every write is one statement."""
        self._open(self.connections.autocommit())
        try:
            yield self
        finally:
            self._close()

    def _open(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.attach(connection)

    def _close(self) -> None:
        connection, self.connection = self.connection, None
        self.attach(None)
        if connection is not None:
            connection.close()

    def commit(self) -> None:
        """Make the work durable."""
        self.connection.commit()

    def rollback(self) -> None:
        """Discard anything not committed (harmless after a commit)."""
        if self.connection is not None:
            self.connection.rollback()
