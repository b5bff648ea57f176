"""Code every Help Center service needs, once: settings, events, database, logging."""
