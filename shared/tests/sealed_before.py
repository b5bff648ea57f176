"""Values sealed the way the code before context bindings sealed them.

Written out here (not through ``shared.crypto``) so the tests that need an old
value hold exactly what a database upgraded from that code holds:
``hd1:<key id>:<nonce || ciphertext+tag>``, the associated data only
``table/column/row id``.
"""

import base64
import secrets

from shared.crypto import Binding, Keyring


def seal_as_before(keyring: Keyring, text: str, binding: Binding) -> str:
    """``text`` sealed under the active key with the old, row-only binding (hd1)."""
    nonce = secrets.token_bytes(12)
    associated = f"{binding.table}/{binding.column}/{binding.row_id}".encode()
    blob = nonce + keyring.keys[keyring.active].encrypt(nonce, text.encode(), associated)
    return f"hd1:{keyring.active}:{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"
