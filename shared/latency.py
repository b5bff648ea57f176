"""The histogram buckets every process times an answer with, in seconds.

An HTTP request and the RPC call behind it are each a person waiting, so both are
measured on one scale, from a millisecond to ten seconds (twice the default RPC
timeout): a request's time and its call's time compare bucket for bucket.
Importing this module registers no metric, so an HTTP process may use it without
the service metrics of ``shared.metrics``.
"""

ANSWER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
