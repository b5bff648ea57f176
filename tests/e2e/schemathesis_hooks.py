"""Hooks for the schemathesis run in ``test_openapi_conformance.py``.

Its stateful phase infers links between operations by name; ``X-Request-Id`` (a header
parameter of every operation) ends in "Id", so a ticket's integer ``id`` from one
answer is fed into the next request's header as an ``int``, which ``requests``
refuses before anything is sent (a "Network Error" of the tool that failed the run
now and then). On the wire a header is text: the value is sent as its string.
"""

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    """Send every header value as text, as HTTP has it."""
    if case.headers:
        for name, value in list(case.headers.items()):
            if not isinstance(value, (str, bytes)):
                case.headers[name] = str(value)
