"""RPC to the nameko services from gunicorn's threads: pooled clients, bounded waits.

nameko's standalone RPC client is single-threaded, so each gunicorn worker process
keeps a pool of them (created lazily after fork, keyed on the pid) and lends one
to a thread per call. A client whose call failed (timeout, broken connection) is
discarded, never returned. One client per request would be slow and would leak
reply queues.

Bounded waits: each call waits at most ``Settings.rpc_timeout``; requests carry a
message TTL of the same length, so a request nobody consumed in time is dropped by
the broker instead of running later behind the caller's back. A service with no
consumer on its RPC queue (stopped, crashed) is detected by a cheap passive queue
declare, cached for a moment, and answered with a fast 503 instead of a timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from contextlib import contextmanager

from kombu import Connection
from kombu.exceptions import KombuError, OperationalError

with warnings.catch_warnings():
    # nameko imports eventlet, which announces its deprecation; the gateway never
    # monkey-patches (gunicorn's threads are real threads), it only needs nameko's client.
    warnings.simplefilter("ignore")
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.rpc import ServiceProxy
    from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.errors import ServiceUnavailable
from shared.config import Settings
from shared.context import CONTEXT_KEY
from shared.logging import current_request_id

log = logging.getLogger("gateway.rpc")

SERVICES = ("tickets", "notifications")
# Errors after which a client's connection state is unknown: discard it.
TRANSPORT_ERRORS = (RpcTimeout, OSError, socket.error, KombuError, OperationalError, RuntimeError)
# How long a probe result (does the service have a consumer?) is trusted.
PROBE_TTL = 0.5


class _PooledClient:
    """One started standalone client, its method proxies cached."""

    def __init__(self, settings: Settings, timeout: float):
        self.proxy = ClusterRpcProxy(settings.nameko_config(), context_data={}, timeout=timeout)
        self.proxy.start()
        self.worker_ctx = self.proxy._worker_ctx
        self.reply_listener = self.proxy._reply_listener
        self.expiration = timeout
        self.services = {}
        self.methods = {}

    def method(self, service: str, name: str):
        key = (service, name)
        method = self.methods.get(key)
        if method is None:
            proxy = self.services.get(service)
            if proxy is None:
                proxy = self.services[service] = ServiceProxy(
                    self.worker_ctx, service, self.reply_listener, expiration=self.expiration
                )
            method = self.methods[key] = getattr(proxy, name)
        return method

    def call(self, service: str, name: str, args):
        # Context data travels with every call: the request id for the services' logs.
        request_id = current_request_id()
        if request_id is None:  # nameko drops None headers, with a warning
            self.worker_ctx.data.pop(CONTEXT_KEY, None)
        else:
            self.worker_ctx.data[CONTEXT_KEY] = request_id
        return self.method(service, name)(*args)

    @property
    def connected(self) -> bool:
        """Whether the reply queue's consumer still has its broker connection."""
        consumer = self.reply_listener.queue_consumer
        return not consumer.stopped and bool(consumer.connection.connected)

    def close(self):
        try:
            self.proxy.stop()
        except Exception:  # already broken; nothing to release
            log.debug("closing a broken RPC client failed", exc_info=True)


class RpcPool:
    """Per-process pool of standalone RPC clients; safe to share between threads."""

    def __init__(self, settings: Settings, size: int | None = None, timeout: float | None = None):
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
            if client is not None and not client.connected:
                # Its reply consumer lost the broker (a restart): replies would never arrive.
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

    def __init__(self, settings: Settings, ttl: float = PROBE_TTL):
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
            self._conn = Connection(
                self.settings.amqp_url,
                connect_timeout=2,
                ssl=self.settings.amqp_ssl or False,
                transport_options={"max_retries": 1},
            )
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
        except TRANSPORT_ERRORS:
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

    def __init__(self, settings: Settings):
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
        except UnknownService:
            raise ServiceUnavailable(service, "is not running") from None
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
            with Connection(
                self.settings.amqp_url,
                connect_timeout=2,
                ssl=self.settings.amqp_ssl or False,
                transport_options={"max_retries": 1},
            ) as conn:
                conn.ensure_connection(max_retries=1)
        except TRANSPORT_ERRORS as exc:
            raise ServiceUnavailable("broker", f"cannot be reached ({exc})") from None

    def close(self):
        """Release this process's clients (worker exit)."""
        self.pool.close()
