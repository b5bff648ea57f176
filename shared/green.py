"""Cooperative I/O set-up for the nameko services.

Import this module first in every nameko process. It must run before psycopg is
imported: psycopg picks its wait function at import time, and its default with
``psycopg[binary]`` (the compiled ``wait_c``) blocks eventlet's hub, so one slow
query would freeze every worker of the service. ``wait_select`` yields to the hub
instead, while the compiled build still does the row loading (several times faster
than pure Python); ``wait_poll``/``wait_epoll`` are unusable because eventlet
removes ``select.poll``.
"""

import os
import sys
import warnings

if "psycopg" in sys.modules:  # pragma: no cover - a programming error, caught loudly
    raise RuntimeError("shared.green must be imported before psycopg")

os.environ["PSYCOPG_WAIT_FUNC"] = "wait_select"

with warnings.catch_warnings():
    # eventlet announces its own deprecation on import; nameko 2 still needs it.
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()
