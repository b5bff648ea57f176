"""The ``rpc`` entrypoint every Help Center service uses.

nameko's own ``rpc`` publishes each reply with publisher confirms: one more broker
round trip per call, held by the worker. A reply goes to the caller's transient,
auto-delete reply queue; if the broker loses it, a confirm would not bring it back
either (the caller's timeout is the recovery), so replies are sent without confirms.
Requests, events and everything else keep their confirms.
"""

from __future__ import annotations

from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.rpc import Responder, RpcConsumer, get_rpc_exchange
from nameko.rpc import Rpc as NamekoRpc


class ReplyPublisher(Publisher):
    """Publishes RPC replies without waiting for a broker confirm."""

    use_confirms = False


class _Responder(Responder):
    publisher_cls = ReplyPublisher


class _RpcConsumer(RpcConsumer):
    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY],
            get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(NamekoRpc):
    """nameko's RPC entrypoint, replying without publisher confirms."""

    rpc_consumer = _RpcConsumer()


rpc = Rpc.decorator
