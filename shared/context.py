"""Carry the request id through nameko workers into log lines and events.

A caller puts ``request_id`` into each RPC call's context data; nameko copies
context data into every worker (and onward into nested calls). ``RequestId``
binds it for logging while the worker runs and hands it to the service, which
stamps it on the events it emits; event consumers bind the id from the envelope.
"""

import contextlib

from nameko.extensions import DependencyProvider

from shared.logging import bind_request_id, reset_request_id

CONTEXT_KEY = "request_id"


class RequestId(DependencyProvider):
    """The id of the request this worker serves (``None`` when there is none)."""

    def __init__(self):
        self.tokens = {}

    def worker_setup(self, worker_ctx):
        self.tokens[worker_ctx] = bind_request_id(worker_ctx.data.get(CONTEXT_KEY))

    def worker_teardown(self, worker_ctx):
        token = self.tokens.pop(worker_ctx, None)
        if token is not None:
            # Set in another context (greenthread): nothing to undo.
            with contextlib.suppress(ValueError):
                reset_request_id(token)

    def get_dependency(self, worker_ctx):
        return worker_ctx.data.get(CONTEXT_KEY)
