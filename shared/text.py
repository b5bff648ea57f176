"""What counts as text the Help Center can store and pass on (no framework imports)."""

import re

# NUL, which PostgreSQL cannot store in text, and a surrogate code point on its own
# (JSON's "\ud800"), which no UTF-8 encoder accepts: neither is text a person typed.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_text(value: str) -> bool:
    """Whether ``value`` holds neither NUL nor an unpaired surrogate."""
    return _NOT_TEXT.search(value) is None
