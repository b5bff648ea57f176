"""The transactional outbox: events written with the change, published by a relay.

A service writes each event envelope into its outbox table in the same transaction
as the change it describes (``write_event``), so an event exists exactly when the
change committed. ``OutboxRelay`` is a nameko dependency that runs a managed
background thread inside the service: it claims unpublished rows with
``FOR UPDATE SKIP LOCKED`` (several instances never publish the same row at once),
publishes the batch persistent to ``EVENTS_EXCHANGE``, waits once for the broker to
confirm all of it (``EventPublisher``), then marks them published in the same
transaction. A crash before the mark republishes the
rows (consumers are idempotent on ``event_id``); a crash before the publish loses
nothing, because the rows are still there.

At rest, an event's text (public replies, resolution and closing notes) is sealed
with the data keyring (``shared.crypto``), bound to its ``event_id`` and its
routing key (which decides who gets it), when a keyring is given: the row holds ``{"event_id", "type", "sealed"}``. The relay opens it to
publish and drops the sealed text once the broker confirmed it, so published rows
keep only their id and type (nothing to leak, nothing to rotate).

The worker that committed calls the dependency (``relay()``) to wake the thread at
once, so commit-to-publish takes milliseconds; a poll interval catches rows that
other instances or crashed processes left behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time

import amqp
import eventlet
import sqlalchemy as sa
from amqp.exceptions import MessageNacked
from kombu import Connection
from nameko.extensions import DependencyProvider

from shared.crypto import (
    EncryptedColumn,
    Keyring,
    MissingDataKey,
    TamperedValue,
    sql_identifiers,
)
from shared.data_keys import keyring_from_settings
from shared.db import make_engine, pool_options
from shared.events import EVENTS_EXCHANGE, ensure_topology, routing_key
from shared.metrics import OUTBOX_OLDEST_AGE, OUTBOX_SET_ASIDE, OUTBOX_UNPUBLISHED, gauge

log = logging.getLogger(__name__)


def _table_name(table: str) -> str:
    # Inlined into statements: a plain identifier only, by crypto's one rule for it.
    sql_identifiers(table)
    return table


SEALED = "sealed"
# The columns of an outbox row its sealed event is bound to (besides its event_id):
# the routing key decides which queues, so which services, receive it.
OUTBOX_CONTEXT = ("routing_key",)
# A confirm that never comes (a broker stalled or a connection half-gone) must
# not hang the relay: the publish raises, the batch rolls back and is retried.
CONFIRM_TIMEOUT = 10.0
# Marks an unpublished row whose sealed text failed to open (tampered, or its key gone).
SET_ASIDE = "set_aside"


@functools.lru_cache(maxsize=8)
def _sealed_column(table: str) -> EncryptedColumn:
    # As the service that owns the outbox declares it (ENCRYPTED_COLUMNS, SEALED_CONTEXT).
    return EncryptedColumn(_table_name(table), "body", "event_id", SEALED, OUTBOX_CONTEXT)


@functools.lru_cache(maxsize=32)
def _insert_statement(table: str, rows: int) -> sa.TextClause:
    # Built once per table and number of rows: a statement and its cache key cost
    # more than the insert.
    values = ", ".join(
        f"(:event_id_{n}, :type_{n}, :routing_key_{n}, CAST(:body_{n} AS jsonb))"
        for n in range(rows)
    )
    return sa.text(
        f"INSERT INTO {_table_name(table)} (event_id, type, routing_key, body) VALUES {values}"
    )


def write_event(
    connection, envelope: dict, table: str = "outbox", keyring: Keyring | None = None
) -> None:
    """Insert ``envelope`` into the outbox on ``connection`` (a Session or Connection).

    Call it inside the transaction that makes the change the event describes. With a
    ``keyring`` the envelope is stored sealed (see the module doc).
    """
    write_events(connection, [envelope], table, keyring)


def write_events(
    connection, envelopes: list[dict], table: str = "outbox", keyring: Keyring | None = None
) -> None:
    """``write_event`` for each of ``envelopes``, in one statement (none for none):
    an action's events cost one round trip however many it causes."""
    params = {}
    for n, envelope in enumerate(envelopes):
        row = {
            "event_id": envelope["event_id"],
            "type": envelope["type"],
            "routing_key": routing_key(envelope["type"]),
        }
        body = envelope
        if keyring is not None:
            binding = _sealed_column(table).binding(envelope["event_id"], row)
            body = {
                "event_id": envelope["event_id"],
                "type": envelope["type"],
                SEALED: keyring.encrypt(json.dumps(envelope), binding),
            }
        params.update({f"{k}_{n}": v for k, v in row.items()})
        params[f"body_{n}"] = json.dumps(body)
    if envelopes:
        connection.execute(_insert_statement(table, len(envelopes)), params)


def open_event(body: dict, routing_key: str, table: str, keyring: Keyring | None) -> str:
    """The JSON text of the envelope an outbox row holds, opened if it was sealed
    (``routing_key``: the row's, which the sealed text is bound to).

    Text, not a dict: it is published as it is, with no decode and re-encode.
    """
    if SEALED not in body:
        return json.dumps(body)
    if keyring is None:
        raise ValueError("a sealed outbox row needs the data keyring to be published")
    binding = _sealed_column(table).binding(body["event_id"], {"routing_key": routing_key})
    return keyring.decrypt(body[SEALED], binding)


class EventPublisher:
    """Publishes events persistent on one channel in confirm mode, a batch at a time.

    ``publish`` sends without waiting; ``wait_for_confirms`` then waits once for the
    broker to confirm every message sent so far, raising if any was refused
    (nacked) or the confirms do not come within the timeout. Waiting per message
    would cost a broker round trip each, and would keep the quorum queue from
    appending a batch to its log at once.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.channel = connection.channel()
        self.channel.confirm_select()
        self._sent = 0  # delivery tags count publishes on the channel, from 1
        self._unconfirmed: set[int] = set()
        self._refused = False
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    def _settle(self, tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > tag}
        else:
            self._unconfirmed.discard(tag)

    def _on_ack(self, tag, multiple):
        self._settle(tag, multiple)

    def _on_nack(self, tag, multiple):
        self._refused = True
        self._settle(tag, multiple)

    def publish(self, body: str, routing_key: str, event_id: str, event_type: str) -> None:
        """Send one event (JSON text) to ``EVENTS_EXCHANGE``; confirmed later."""
        message = amqp.Message(
            body,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=event_id,
            type=event_type,
        )
        self.channel.basic_publish(message, exchange=EVENTS_EXCHANGE.name, routing_key=routing_key)
        self._sent += 1
        self._unconfirmed.add(self._sent)

    def wait_for_confirms(self, timeout: float = CONFIRM_TIMEOUT) -> None:
        """Return once the broker confirmed every message sent; raise otherwise."""
        deadline = time.monotonic() + timeout
        while self._unconfirmed and not self._refused:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._unconfirmed)} events not confirmed in {timeout}s")
            self.connection.drain_events(timeout=remaining)
        if self._refused:
            raise MessageNacked("the broker refused an event")


def publish_pending(
    engine: sa.Engine,
    publisher: EventPublisher,
    table: str,
    batch: int = 100,
    keyring: Keyring | None = None,
) -> int:
    """Publish one batch of unpublished rows and mark them; return how many were claimed."""
    table = _table_name(table)
    with engine.begin() as db:
        rows = db.execute(
            sa.text(
                f"SELECT id, routing_key, body FROM {table} WHERE published_at IS NULL "
                f"AND (body -> '{SET_ASIDE}') IS NULL "
                "ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
            ),
            {"batch": batch},
        ).all()
        if not rows:
            return 0
        published, aside = [], []
        for row in rows:
            try:
                text = open_event(row.body, row.routing_key, table, keyring)
            except (TamperedValue, MissingDataKey) as exc:
                # One row that cannot be opened must not hold back every later event:
                # it stays unpublished, marked, for an operator to inspect.
                log.error(
                    "outbox row cannot be opened; set aside",
                    extra={
                        "outbox_id": row.id,
                        "event_id": row.body.get("event_id"),
                        "error": str(exc),
                    },
                )
                aside.append(row.id)
                continue
            published.append(row.id)
            publisher.publish(text, row.routing_key, row.body["event_id"], row.body["type"])
        # Only once the broker confirmed them all are they marked; a nack, a timeout
        # or a lost connection raises and the transaction rolls back.
        publisher.wait_for_confirms()
        db.execute(
            # The broker has the text now: the row keeps no copy of it.
            sa.text(
                f"UPDATE {table} SET published_at = now(), body = body - '{SEALED}' "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": published},
        )
        if aside:
            db.execute(
                sa.text(
                    f"UPDATE {table} SET body = body || jsonb_build_object('{SET_ASIDE}', true) "
                    "WHERE id = ANY(:ids)"
                ),
                {"ids": aside},
            )
    return len(rows)


def prune_published(
    engine: sa.Engine, table: str, older_than_days: float, batch: int = 10_000
) -> int:
    """Delete up to ``batch`` rows published more than ``older_than_days`` ago; return how many."""
    with engine.begin() as db:
        return db.execute(
            sa.text(
                f"DELETE FROM {_table_name(table)} WHERE id IN (SELECT id FROM {table} "
                "WHERE published_at < now() - make_interval(secs => :secs) LIMIT :batch)"
            ),
            {"secs": older_than_days * 86400, "batch": batch},
        ).rowcount


def outbox_backlog(engine: sa.Engine, table: str) -> sa.Row:
    """``unpublished`` rows, the ``oldest_age`` of them in seconds (0 when none), and
    rows ``set_aside`` (unopenable): what the outbox's alerts watch.

    Reads only unpublished rows, through the relay's partial index.
    """
    table = _table_name(table)
    waiting = f"(body -> '{SET_ASIDE}') IS NULL"
    with engine.connect() as db:
        return db.execute(
            sa.text(
                f"SELECT count(*) FILTER (WHERE {waiting}) AS unpublished, "
                f"count(*) FILTER (WHERE NOT {waiting}) AS set_aside, "
                "COALESCE(EXTRACT(EPOCH FROM now() - "
                f"min(created_at) FILTER (WHERE {waiting})), 0)::float AS oldest_age "
                f"FROM {table} WHERE published_at IS NULL"
            )
        ).one()


def relay_connection(amqp_url: str, ssl: dict | None = None) -> Connection:
    """A kombu connection for the relay (``EventPublisher`` manages its confirms).

    ``ssl`` is ``Settings.amqp_ssl`` (TLS options for an ``amqps://`` URL).
    """
    return Connection(amqp_url, connect_timeout=10, ssl=ssl or False)


class OutboxRelay(DependencyProvider):
    """Publish a service's outbox from a background thread; the dependency wakes it.

    ``url_setting`` names the ``Settings`` attribute with the database URL,
    ``table`` the outbox table, ``poll_interval`` how often it looks without a wake;
    published rows are kept ``retention_days`` (for inspection and replays), then pruned.
    """

    PRUNE_EVERY = 600.0  # seconds between prunes
    BATCH = 100  # rows claimed, published and marked per transaction
    # How long a stop waits for the batch in hand. Some broker calls (declaring the
    # topology, opening a channel) wait for an answer with no timeout of their own:
    # a stalled broker must not keep the service from stopping.
    STOP_TIMEOUT = 15.0
    CLOSE_TIMEOUT = 5.0  # for the broker to answer a polite close

    def __init__(
        self,
        url_setting: str,
        table: str = "outbox",
        poll_interval: float = 1.0,
        retention_days: float = 7.0,
    ):
        self.url_setting = url_setting
        self.table = _table_name(table)
        self.poll_interval = poll_interval
        self.retention_days = retention_days
        self._next_prune = 0.0
        self.engine: sa.Engine | None = None
        self.amqp_url = None
        self.amqp_ssl = None
        self.keyring: Keyring | None = None
        self._wake = threading.Event()
        self._running = False
        self._thread = None
        self._amqp: Connection | None = None
        self._publisher: EventPublisher | None = None

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        self.engine = make_engine(getattr(settings, self.url_setting), **pool_options(settings, 1))
        self.amqp_url = settings.amqp_url
        self.amqp_ssl = settings.amqp_ssl
        self.keyring = keyring_from_settings(settings)

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._run, identifier="outbox_relay")
        self.wake()  # rows left by a crash or a stopped instance go out now

    def stop(self):
        self._running = False
        self._wake.set()
        if self._thread is not None:
            with eventlet.Timeout(self.STOP_TIMEOUT, False):
                self._thread.wait()
            if not self._thread.dead:
                # Its unmarked rows stay in the outbox and go out after the restart.
                log.warning("outbox relay did not stop in %ss; killed", self.STOP_TIMEOUT)
                self._thread.kill()
            self._thread = None
        self._close_amqp()
        if self.engine is not None:
            self.engine.dispose()

    def kill(self):
        self._running = False
        self._wake.set()
        if self._thread is not None:
            # First, so that nothing else reads the broker connection: a close that
            # waits for the broker's answer while the relay thread reads the same
            # socket can lose that answer to the thread and wait forever.
            self._thread.kill()
            self._thread = None
        self._close_amqp(handshake=False)

    def wake(self) -> None:
        """Ask the relay to publish now (call after a commit that wrote events)."""
        self._wake.set()

    def get_dependency(self, worker_ctx):
        return self.wake

    def collect_metrics(self):
        """The outbox's backlog as gauges, at each scrape (``shared.metrics``)."""
        backlog = outbox_backlog(self.engine, self.table)
        labels = {"service": self.container.service_name, "table": self.table}
        yield gauge(OUTBOX_UNPUBLISHED, labels, backlog.unpublished)
        yield gauge(OUTBOX_OLDEST_AGE, labels, backlog.oldest_age)
        yield gauge(OUTBOX_SET_ASIDE, labels, backlog.set_aside)

    def _close_amqp(self, handshake: bool = True):
        """Drop the broker connection: closed politely within CLOSE_TIMEOUT when
        ``handshake``, else (a kill, or no answer) by dropping its socket."""
        if self._amqp is None:
            return
        connection, self._amqp, self._publisher = self._amqp, None, None
        closed = False
        if handshake:
            # Closing a broken connection may itself fail; it is gone either way.
            with contextlib.suppress(Exception), eventlet.Timeout(self.CLOSE_TIMEOUT, False):
                connection.release()
                closed = True
        if not closed:
            with contextlib.suppress(Exception):
                connection.collect()

    def _events(self) -> EventPublisher:
        if self._amqp is None:
            conn = relay_connection(self.amqp_url, self.amqp_ssl)
            conn.ensure_connection(max_retries=1)
            # The exchange exists before the first publish (consumers' queues are
            # declared by helpdesk-setup and by the consumers themselves); checked
            # only, when the publishing service's broker user may not declare it.
            ensure_topology(conn)
            self._amqp = conn
            self._publisher = EventPublisher(conn)
        return self._publisher

    def _run(self):
        backoff = 0.0
        while self._running:
            self._wake.wait(backoff or self.poll_interval)
            self._wake.clear()
            if not self._running:
                break
            try:
                # A short batch means the outbox was drained: stop without another
                # (empty) transaction. A row committed since then woke us again.
                while (
                    self._running
                    and publish_pending(
                        self.engine, self._events(), self.table, self.BATCH, self.keyring
                    )
                    == self.BATCH
                ):
                    pass
                backoff = 0.0
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + self.PRUNE_EVERY
                    prune_published(self.engine, self.table, self.retention_days)
            except Exception:
                # Rows stay unpublished (the transaction rolled back); try again soon.
                log.exception("outbox relay failed; retrying")
                self._close_amqp()
                backoff = min(max(backoff * 2, 0.2), 5.0)
