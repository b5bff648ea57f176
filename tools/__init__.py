"""Commands that span services: migrations, set-up, key rotation, the local supervisor.

``shared/`` is a library that names no service; what these tools need to know of a
service, each service says in its own ``manifest.py``, found through ``tools.registry``.
"""
