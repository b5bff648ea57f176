"""The ``rpc`` entrypoint every Help Center service uses.

nameko's own ``rpc`` replies through a new ``Publisher`` per call, which builds a
kombu ``Connection`` object to find its pooled producer, serializes the result
twice (once to check it can be), and waits for a publisher confirm: together a
third of a cheap call's CPU in a service (``docs/benchmarks.md``). This
entrypoint serializes once and publishes through the process's producer pool,
found once per broker URL, without confirms and transient:

- a reply goes to the caller's exclusive, auto-delete reply queue, which does not
  survive a broker restart anyway, so persisting the message buys nothing;
- if the broker loses a reply, a confirm would not bring it back either: the
  caller's timeout is the recovery, with or without it.

Requests, events and everything else keep their confirms. Errors are serialized
exactly as nameko does, so callers see the same remote exceptions, with one
translation: a database that cannot be reached is ``StorageUnavailable`` (an
HTTP caller's 503 with ``Retry-After``), not an unexpected error (a 500).

A reply that cannot be published (the broker is restarting) is logged and dropped
instead of raised: raised, it would kill the whole service container, and the
caller's timeout already recovers from a lost reply. The request itself, not
acknowledged, comes back when the broker does (or when another instance takes the
queue over from one that died between its commit and its ack) and runs again.

So every call carries its identity to the command: the entrypoint puts the request's
correlation id, the broker's ``redelivered`` flag and the request's TTL into the
worker's context data (``CALL_KEY``, overwriting whatever a caller sent under that
name), and ``CallIdentity`` hands it to the service as a ``shared.idempotency.RpcCall``.
A tickets command records its answer in its own transaction, under its
``Idempotency-Key`` or, without one, under this call (``shared/idempotency.py``), so
the second run of a call replays the first answer instead of acting twice. (The
notifications service's read marks need no record: marking again changes nothing.)
"""

from __future__ import annotations

import logging
import sys

from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError
from kombu.pools import producers
from kombu.serialization import dumps, registry
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    LOGIN_METHOD_CONFIG_KEY,
    NON_PERSISTENT,
)
from nameko.exceptions import UnserializableValueError, serialize
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer, get_rpc_exchange

from shared.db import database_unreachable
from shared.errors import StorageUnavailable
from shared.idempotency import RpcCall

log = logging.getLogger(__name__)

# The context data key of the call's identity (``Rpc.unpack_message_headers``).
CALL_KEY = "rpc_call"


def _as_reply_error(exc_info):
    """The error a caller should see: a database outage becomes ``StorageUnavailable``."""
    if exc_info is None or not database_unreachable(exc_info[1]):
        return exc_info
    error = StorageUnavailable("The service's database is unavailable; try again shortly.")
    return (StorageUnavailable, error, exc_info[2])


class _RpcConsumer(RpcConsumer):
    def setup(self):
        super().setup()
        config = self.container.config
        # kombu's pool of producers for these connection parameters, looked up once:
        # nameko builds a Connection object per reply just to find it.
        self.producer_pool = producers[
            Connection(
                config[AMQP_URI_CONFIG_KEY],
                ssl=config.get(AMQP_SSL_CONFIG_KEY),
                login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
                transport_options={"confirm_publish": False},
            )
        ]
        self.reply_exchange = get_rpc_exchange(config)

    def handle_result(self, message, result, exc_info):
        """Reply to the caller (as nameko's responder does, see the module doc); ack."""
        exc_info = _as_reply_error(exc_info)
        error = None if exc_info is None else serialize(exc_info[1])
        # Reply encoded the way the request was.
        serializer = registry.type_to_name[message.properties["content_type"]]
        try:
            encoded = dumps({"result": result, "error": error}, serializer)
        except Exception:
            # An unserializable result is the caller's error, not a reason to crash.
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            encoded = dumps({"result": None, "error": error}, serializer)
        content_type, content_encoding, body = encoded
        try:
            with self.producer_pool.acquire(block=True) as producer:
                producer.publish(
                    body,
                    content_type=content_type,
                    content_encoding=content_encoding,
                    exchange=self.reply_exchange,
                    routing_key=message.properties["reply_to"],
                    correlation_id=message.properties.get("correlation_id"),
                    delivery_mode=NON_PERSISTENT,
                    retry=True,
                    retry_policy=DEFAULT_RETRY_POLICY,
                )
            self.queue_consumer.ack_message(message)
        except (OSError, KombuError, AMQPError) as exc:
            log.warning(
                "rpc reply not delivered: broker unreachable",
                extra={"routing_key": message.delivery_info.get("routing_key"), "error": str(exc)},
            )
        return result, exc_info


class Rpc(NamekoRpc):
    """nameko's RPC entrypoint, replying once-serialized, transient and without
    confirms, and telling the worker which call it serves (``CALL_KEY``)."""

    rpc_consumer = _RpcConsumer()

    def unpack_message_headers(self, message):
        """The context data from the headers, with this call's identity under ``CALL_KEY``."""
        context_data = super().unpack_message_headers(message)
        context_data[CALL_KEY] = {
            "correlation_id": message.properties.get("correlation_id"),
            "redelivered": bool(message.delivery_info.get("redelivered")),
            "expiration": message.properties.get("expiration"),
        }
        return context_data


class CallIdentity(DependencyProvider):
    """The RPC call this worker serves, as a ``shared.idempotency.RpcCall`` (None in a
    worker no ``Rpc`` entrypoint started, a timer's say)."""

    def get_dependency(self, worker_ctx):
        call = worker_ctx.data.get(CALL_KEY)
        # Only an Rpc entrypoint sets it: elsewhere it would be whatever a caller sent.
        if not isinstance(worker_ctx.entrypoint, Rpc) or not isinstance(call, dict):
            return None
        return RpcCall(
            call.get("correlation_id"), call.get("redelivered") is True, call.get("expiration")
        )


rpc = Rpc.decorator
