"""The database dependency for nameko services (SQLAlchemy 2, psycopg 3).

``Database`` is a nameko ``DependencyProvider``: one engine per service container,
one ``Session`` per worker, always rolled back and closed when the worker ends, so
anything not explicitly committed is discarded. ``nameko-sqlalchemy`` does not
support SQLAlchemy 2, hence this small replacement.

Import ``shared.green`` before this module in a nameko process (psycopg's wait
function must be chosen first).
"""

from __future__ import annotations

import psycopg  # noqa: F401  (see below)
import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session, sessionmaker

from shared.config import sqlalchemy_url

# psycopg is imported eagerly above: SQLAlchemy imports the driver lazily when an
# engine is created, and nameko sets up extensions concurrently in green threads,
# so two engines created at once would race on a half-imported module.


def make_engine(url: str, pool_size: int = 10, **kwargs) -> sa.Engine:
    """An engine for a ``postgresql://`` URL, with connections checked before use."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        **kwargs,
    )


class Database(DependencyProvider):
    """Give each worker its own ``Session``; roll back whatever it did not commit.

    ``url_setting`` names the ``Settings`` attribute holding the database URL.
    """

    def __init__(self, url_setting: str):
        self.url_setting = url_setting
        self.engine: sa.Engine | None = None
        self.sessionmaker = None
        self.sessions = {}

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        # One pooled connection per concurrent worker, so workers never queue for one.
        workers = self.container.config.get("max_workers", 10)
        self.engine = make_engine(getattr(settings, self.url_setting), pool_size=workers)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def stop(self):
        if self.engine is not None:
            self.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx) -> Session:
        session = self.sessionmaker()
        self.sessions[worker_ctx] = session
        return session

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.rollback()
            session.close()
