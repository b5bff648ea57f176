"""What each process may do on the broker and in the databases: least privilege.

Every service logs in to RabbitMQ as its own user and to PostgreSQL as its own role;
only the set-up step (``helpdesk-setup``, ``tools/setup.py``) holds administrative
credentials, and it applies what is written here. No framework: the names come from
``shared.events`` (the event exchanges), each service's manifest (the queues it
consumes, ``tools.registry``) and nameko's RPC conventions:

- a service's RPC queue is ``rpc-<service>``, bound to the ``nameko-rpc`` topic
  exchange with the key ``<service>.*``; callers publish ``<service>.<method>``;
- a caller's reply queue (the gateway's: ``rpc.reply-gateway-<uuid>``) is bound to
  ``nameko-rpc`` with the key ``<uuid>``, which the service replies to;
- the tickets service publishes ``tickets.<event type>`` to ``helpdesk.events``;
  a consumer reads its own queues (``EVENT_QUEUES`` in its manifest), which the
  set-up step declared and bound (so no service configures another's queues).

RabbitMQ checks ``configure`` (declare, delete), ``write`` (publish to an exchange,
bind a queue) and ``read`` (consume a queue, bind from an exchange) against the
regexes; topic permissions additionally check a topic exchange's routing keys on
publish (``write``) and on bind (``read``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from shared import announcements
from shared.events import EVENT_TYPES, EVENTS_EXCHANGE, SOURCE
from tools import registry

RPC_EXCHANGE = "nameko-rpc"  # nameko's default RPC_EXCHANGE; shared.config leaves it so
NOTHING = "^$"
# A caller's reply_to: a uuid4, as services.gateway.rpc and nameko make it.
REPLY_KEY = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
GATEWAY_REPLY_QUEUE = r"rpc\.reply-gateway-[0-9a-f-]{36}"
# A stream server's own announcement queue (services.gateway.stream), exclusive.
STREAM_QUEUE = r"notices\.stream-[0-9a-f-]{36}"


def exactly(*names: str) -> str:
    """A regex matching exactly ``names`` (escaped), or nothing when none are given."""
    if not names:
        return NOTHING
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def _raw(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


@dataclass(frozen=True)
class BrokerGrant:
    """One broker user's permissions in the Help Center's vhost."""

    configure: str
    write: str
    read: str
    # exchange -> (write, read) routing-key regexes, for every topic exchange
    topics: dict = field(default_factory=dict)


def _service_grant(service) -> BrokerGrant:
    rpc_queue = f"rpc-{service.name}"
    publishes = service.name == SOURCE  # the events' one source
    announces = service.name == announcements.SERVICE  # notices to the stream servers
    announced = (announcements.EXCHANGE,) if announces else ()
    consumed = tuple(queue.name for queue in service.event_queues)
    topics = {}
    if announces:
        topics[announcements.EXCHANGE] = (exactly(announcements.NOTICE_STORED), NOTHING)
    return BrokerGrant(
        # nameko declares its RPC queue and the RPC exchange on every start (and the
        # announcing service its event exchange).
        configure=exactly(rpc_queue, RPC_EXCHANGE, *announced),
        write=exactly(
            rpc_queue,
            RPC_EXCHANGE,
            *((EVENTS_EXCHANGE.name,) if publishes else ()),
            *announced,
        ),
        read=exactly(rpc_queue, RPC_EXCHANGE, *consumed),
        topics={
            # Replies to its callers only; binds its own queue to its own calls only.
            RPC_EXCHANGE: (REPLY_KEY, "^" + re.escape(f"{service.name}.*") + "$"),
            EVENTS_EXCHANGE.name: (
                exactly(*(f"{SOURCE}.{t}" for t in EVENT_TYPES)) if publishes else NOTHING,
                NOTHING,
            ),
            **topics,
        },
    )


def _gateway_grant() -> BrokerGrant:
    # The gateway calls every service and reads its own exclusive reply queues; its
    # stream servers (same login) also bind their own queues to the announcements.
    own = _raw(re.escape(RPC_EXCHANGE), GATEWAY_REPLY_QUEUE, STREAM_QUEUE)
    announced = re.escape(announcements.EXCHANGE)
    calls = _raw(*(rf"{re.escape(name)}\.[a-z_]+" for name in registry.names()))
    return BrokerGrant(
        configure=own,
        write=own,
        read=_raw(re.escape(RPC_EXCHANGE), GATEWAY_REPLY_QUEUE, STREAM_QUEUE, announced),
        topics={
            RPC_EXCHANGE: (calls, REPLY_KEY),
            EVENTS_EXCHANGE.name: (NOTHING, NOTHING),
            announcements.EXCHANGE: (NOTHING, exactly(announcements.NOTICE_STORED)),
        },
    )


@functools.cache
def broker_grants() -> dict:
    """Login name suffix (each service, and ``gateway``) -> its ``BrokerGrant``."""
    grants = {service.name: _service_grant(service) for service in registry.services()}
    grants["gateway"] = _gateway_grant()
    return grants


# Each service's database role may read and change rows in its own database only.
DATABASE_PRIVILEGES = {
    "tables": "SELECT, INSERT, UPDATE, DELETE",
    "sequences": "USAGE, SELECT, UPDATE",
}
