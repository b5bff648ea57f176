"""RPC to the nameko services from gunicorn's threads: pooled clients, bounded waits.

Each gunicorn worker process keeps a pool of lean RPC clients (created lazily after
fork, keyed on the pid) and lends one to a thread per call. A client is one broker
connection with one channel and its own reply queue, so it serves one thread at a
time; a client whose call failed (timeout, broken connection) is discarded, never
returned. One client per request would be slow and would churn reply queues.

The client speaks nameko's RPC protocol itself (the services' side is stock nameko):
a request is a JSON ``{"args", "kwargs"}`` body published to the RPC exchange under
``<service>.<method>``, with ``reply_to`` (the routing key of the client's reply
queue), a ``correlation_id`` and the context data as ``nameko.*`` headers (the
request id, ``shared.context.CONTEXT_KEY``, reaches the services' logs that way).
The reply ``{"result", "error"}`` is matched on the correlation id and an error is
rebuilt with ``nameko.exceptions.deserialize``, so the ``shared.errors`` classes
come back as themselves. nameko's own standalone client costs more per call: it
builds a kombu ``Connection`` (and probes for librabbitmq) on every publish and
waits for a publisher confirm. What this client does differently, and why that is
safe:

- Requests are published without confirms, transient (delivery mode 1) and not
  mandatory. A confirm only says the broker took the message; it does not make
  the reply arrive, and the wait for the reply is bounded anyway. A request the
  broker loses or refuses (a crash, a restart, an alarm) ends as that timeout,
  a 503, as a confirmed request whose reply was lost already does; persisting a
  request that expires with the caller's wait buys nothing. Without confirms,
  nameko's "unknown service" check (mandatory + confirm) cannot work and mandatory
  alone would only draw a warning; ``ServiceProbe`` answers that question instead.
- The reply queue is exclusive, auto-delete and not durable, and is consumed
  without acks: the broker deletes it with the connection, so a closed, discarded
  or crashed client leaves no queue behind, and a reply that reached a client
  needs no redelivery (if the client dies, nobody is left to want it).
- A reply whose correlation id is not the one awaited (a duplicate after a
  redelivered request) is dropped; a client whose call was cut short is not lent
  again, so a late reply can never be taken for another call's.

Bounded waits: each call waits at most ``FrontSettings.rpc_timeout``; requests carry a
message TTL of the same length, so a request nobody consumed in time is dropped by
the broker instead of running later behind the caller's back. A service with no
consumer on its RPC queue (stopped, crashed, never started) is detected by a cheap
passive queue declare, cached for a moment, and answered with a fast 503 instead
of a timeout.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import uuid
import warnings
from contextlib import contextmanager

from amqp import Message
from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError
from kombu.utils.json import dumps, loads

with warnings.catch_warnings():
    # nameko imports eventlet, which announces its deprecation; the gateway never
    # monkey-patches (gunicorn's threads are real threads), it only needs nameko's
    # protocol pieces: the exchange name, header prefix and error deserialization.
    warnings.simplefilter("ignore")
    from nameko.constants import CALL_ID_STACK_CONTEXT_KEY, HEADER_PREFIX, NON_PERSISTENT
    from nameko.exceptions import RpcTimeout, deserialize
    from nameko.rpc import get_rpc_exchange

from services.gateway.errors import ServiceUnavailable
from services.gateway.settings import FrontSettings
from shared.context import CONTEXT_KEY
from shared.logging import current_request_id

log = logging.getLogger("gateway.rpc")

# Errors after which a client's connection state is unknown: discard it.
TRANSPORT_ERRORS = (RpcTimeout, OSError, KombuError, AMQPError)
# Errors that mean the broker cannot be reached at all (the probe's "down").
BROKER_DOWN = (OSError, KombuError)
# How long a probe result (does the service have a consumer?) is trusted.
PROBE_TTL = 0.5
# Context data travels as "nameko.<key>" headers, as nameko's own proxies send it.
REQUEST_ID_HEADER = f"{HEADER_PREFIX}.{CONTEXT_KEY}"
CALL_ID_STACK_HEADER = f"{HEADER_PREFIX}.{CALL_ID_STACK_CONTEXT_KEY}"
JSON = "application/json"
# The services the gateway and the stream call, by their RPC names.
TICKETS, NOTIFICATIONS = "tickets", "notifications"
SERVICES = (TICKETS, NOTIFICATIONS)


def _connection(settings: FrontSettings) -> Connection:
    """A kombu connection to the broker that gives up quickly when it is down."""
    return Connection(
        settings.amqp_url,
        connect_timeout=2,
        ssl=settings.amqp_ssl or False,
        transport_options={"max_retries": 1},
    )


class _PooledClient:
    """One broker connection, one channel, one exclusive reply queue; one thread at a time."""

    def __init__(self, settings: FrontSettings, timeout: float):
        self.timeout = timeout
        self.expiration = str(int(timeout * 1000))  # the request's TTL, in ms
        self.exchange = get_rpc_exchange(settings.nameko_config()).name
        self.reply_to = str(uuid.uuid4())
        self._waiting = self._reply = self._amqp = None
        self._conn = _connection(settings)
        try:
            self._conn.ensure_connection(max_retries=1)
            self._amqp = self._conn.connection  # py-amqp's connection: no kombu layer per call
            # Every blocking read or write of this client, closing included, is bounded.
            self._amqp.transport.sock.settimeout(timeout)
            self._channel = self._amqp.channel()
            self._consume_replies()
        except BaseException:
            self.close()
            raise

    def _consume_replies(self):
        channel = self._channel
        queue = f"rpc.reply-gateway-{self.reply_to}"
        # The services declare the same exchange; declaring it here too (same arguments)
        # lets a client start before any service has.
        channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(queue, durable=False, exclusive=True, auto_delete=True)
        channel.queue_bind(queue, self.exchange, routing_key=self.reply_to)
        channel.basic_consume(queue, callback=self._on_reply, no_ack=True)

    def _on_reply(self, message):
        if message.properties.get("correlation_id") == self._waiting:
            self._reply = message.body
        else:  # a duplicate of an answered call (request redelivered to a service)
            log.debug("dropped a reply nobody waits for")

    def call(self, service: str, name: str, args):
        """Publish the request, wait for its reply, return the result or raise its error."""
        correlation_id = str(uuid.uuid4())
        headers = {CALL_ID_STACK_HEADER: [f"gateway.call.{correlation_id}"]}
        request_id = current_request_id()
        if request_id is not None:  # nameko drops None headers too
            headers[REQUEST_ID_HEADER] = request_id
        request = Message(
            dumps({"args": args, "kwargs": {}}).encode(),
            content_type=JSON,
            content_encoding="utf-8",
            delivery_mode=NON_PERSISTENT,
            expiration=self.expiration,
            reply_to=self.reply_to,
            correlation_id=correlation_id,
            application_headers=headers,  # py-amqp's name for the headers table
        )
        self._waiting, self._reply = correlation_id, None
        self._channel.basic_publish(request, self.exchange, f"{service}.{name}")
        reply = loads(self._wait())
        self._waiting = None  # answered: the client may serve another call
        error = reply.get("error")
        if error:
            raise deserialize(error)
        return reply["result"]

    def _wait(self) -> bytes:
        deadline = time.monotonic() + self.timeout
        while self._reply is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcTimeout(self.timeout)
            try:
                self._amqp.drain_events(timeout=remaining)
            except TimeoutError:  # socket.timeout
                raise RpcTimeout(self.timeout) from None
        return self._reply

    @property
    def usable(self) -> bool:
        """Whether the connection is open and quiet, so a call on it can be answered.

        Between calls nothing is due on the socket: if it is readable, the broker has
        closed the connection (a restart) or sent something unexpected. One zero-wait
        ``select`` finds out before a request is published into a dead connection.
        """
        amqp = self._amqp
        if self._waiting is not None:  # a call was cut short: its reply may still come
            return False
        if amqp is None or not amqp.connected or not self._channel.is_open:
            return False
        try:
            readable, _, _ = select.select([amqp.transport.sock], [], [], 0)
        except (OSError, ValueError):  # closed underneath us
            return False
        return not readable

    def close(self):
        """Close the connection; the broker deletes the reply queue with it."""
        try:
            self._conn.release()  # bounded by the socket timeout
        except Exception:  # already broken; nothing to release
            log.debug("closing an RPC client failed", exc_info=True)
        if self._amqp is not None:
            self._amqp.collect()  # if the close handshake failed, drop the socket anyway
            self._amqp = None


class RpcPool:
    """Per-process pool of RPC clients; safe to share between threads."""

    def __init__(
        self, settings: FrontSettings, size: int | None = None, timeout: float | None = None
    ):
        self.settings = settings
        self.size = size or settings.rpc_pool_size
        self.timeout = timeout or settings.rpc_timeout
        self._pid = None
        self._lock = threading.Lock()

    def _for_this_process(self):
        # After fork the parent's clients (sockets, reply queues) are not ours: start afresh.
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._idle = []
                    self._slots = threading.BoundedSemaphore(self.size)
                    self._pid = pid

    @contextmanager
    def client(self, service: str):
        """Lend a client for one call; discard it if the call broke its connection."""
        self._for_this_process()
        if not self._slots.acquire(timeout=self.timeout):
            raise ServiceUnavailable(service, "is too busy to answer")
        client = None
        try:
            with self._lock:
                client = self._idle.pop() if self._idle else None
            if client is not None and not client.usable:
                # It lost the broker (a restart): a call on it could never be answered.
                client.close()
                client = None
            if client is None:
                try:
                    client = _PooledClient(self.settings, self.timeout)
                except TRANSPORT_ERRORS as exc:
                    log.warning("cannot connect to the broker: %s", exc)
                    raise ServiceUnavailable(service, "cannot be reached (broker down)") from None
            yield client
        except TRANSPORT_ERRORS:
            if client is not None:
                client.close()
                client = None
            raise
        finally:
            if client is not None:
                with self._lock:
                    self._idle.append(client)
            self._slots.release()

    def close(self):
        """Stop every idle client of this process."""
        if self._pid != os.getpid():
            return
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()


class ServiceProbe:
    """Whether a service has a consumer on its RPC queue, cached for ``PROBE_TTL``."""

    def __init__(self, settings: FrontSettings, ttl: float = PROBE_TTL):
        self.settings = settings
        self.ttl = ttl
        self._pid = None
        self._lock = threading.Lock()
        self._probing = threading.Lock()
        self._seen = {}

    def _connection(self):
        pid = os.getpid()
        if self._pid != pid:
            self._pid, self._conn, self._seen = pid, None, {}
        if self._conn is None:
            self._conn = _connection(self.settings)
            self._conn.ensure_connection(max_retries=1)
        return self._conn

    def consumers(self, service: str) -> int:
        """Consumers on ``rpc-<service>`` right now (0 when the queue does not exist)."""
        with self._lock:
            conn = None
            try:
                conn = self._connection()
                channel = conn.default_channel
                _name, _messages, consumers = channel.queue_declare(
                    queue=f"rpc-{service}", passive=True
                )
                return consumers
            except Exception as exc:  # missing queue closes the channel; broker down breaks conn
                missing = getattr(exc, "code", None) == 404
                if conn is not None:
                    try:
                        conn.release()
                    except Exception:
                        log.debug("releasing the probe connection failed", exc_info=True)
                self._conn = None
                if missing:
                    return 0
                raise

    def available(self, service: str) -> bool:
        """True unless a recent probe found no consumer; a probe runs at most once per TTL.

        While one thread probes, the others go by the last answer instead of queueing.
        """
        now = time.monotonic()
        seen = self._seen.get(service) if self._pid == os.getpid() else None
        if seen is not None and now - seen[0] < self.ttl:
            return seen[1]
        if not self._probing.acquire(blocking=False):
            return True if seen is None else seen[1]
        try:
            up = self.consumers(service) > 0
        except BROKER_DOWN:
            up = False  # the broker is unreachable: no call can succeed
        except Exception:  # an odd broker answer: let the call itself decide
            log.warning("service probe failed", exc_info=True, extra={"rpc_service": service})
            up = True
        finally:
            self._probing.release()
        self._seen[service] = (now, up)
        return up

    def forget(self, service: str) -> None:
        """Probe again on the next call (after a timeout the cached answer is stale)."""
        self._seen.pop(service, None)


class RpcClients:
    """What resources call: ``call(service, method, *args)``, with errors made HTTP-ready.

    Remote ``shared.errors`` pass through unchanged (mapped in ``errors.py``); a
    service that is down or slow becomes ``ServiceUnavailable``.
    """

    def __init__(self, settings: FrontSettings):
        self.settings = settings
        self.pool = RpcPool(settings)
        self.probe = ServiceProbe(settings)

    def call(self, service: str, method: str, *args):
        """Call ``service.method(*args)`` with the request id in the context data."""
        if not self.probe.available(service):
            raise ServiceUnavailable(service, "is not running")
        try:
            with self.pool.client(service) as client:
                return client.call(service, method, args)
        except RpcTimeout:
            self.probe.forget(service)
            log.warning("rpc timeout", extra={"rpc_service": service, "rpc_method": method})
            raise ServiceUnavailable(service) from None
        except TRANSPORT_ERRORS as exc:
            log.warning("rpc transport error: %s", exc, extra={"rpc_service": service})
            raise ServiceUnavailable(service, "cannot be reached") from None

    def ping(self, service: str) -> None:
        """Raise ``ServiceUnavailable`` unless ``service.ping()`` answers in time."""
        if self.probe.consumers(service) == 0:
            raise ServiceUnavailable(service, "is not running")
        result = self.call(service, "ping")
        if result != "pong":
            raise ServiceUnavailable(service, "answered ping wrongly")

    def check_broker(self) -> None:
        """Raise ``ServiceUnavailable`` unless the broker accepts a connection."""
        try:
            with _connection(self.settings) as conn:
                conn.ensure_connection(max_retries=1)
        except TRANSPORT_ERRORS as exc:
            raise ServiceUnavailable("broker", f"cannot be reached ({exc})") from None

    def close(self):
        """Release this process's clients (worker exit)."""
        self.pool.close()
