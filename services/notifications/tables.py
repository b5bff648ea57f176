"""The notifications service's schema (its own database; never the tickets tables):
what the migrations create, indexes and defaults included
(``tools/tests/test_tables_match_migrations.py`` holds the two to the same)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from shared import idempotency

metadata = sa.MetaData()

# (table, column, id column) of every value sealed with shared.crypto: read by the
# start-up key check (shared.data_keyring.DataKeyring) and by helpdesk-rotate-keys.
ENCRYPTED_COLUMNS = (("notices", "body", "id"), idempotency.ENCRYPTED_COLUMN)
# The columns of a row each sealed value is bound to (shared.crypto.Binding): a
# notice moved to another recipient or ticket fails authentication.
SEALED_CONTEXT = {
    "notices": ("recipient_id", "ticket_id"),
    idempotency.TABLE: idempotency.CONTEXT,  # the caller a kept answer was given to
}

# Ids are taken before the insert: the encrypted body is bound to its row id.
notice_id_seq = sa.Sequence("notices_id_seq", metadata=metadata)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.BigInteger, notice_id_seq, primary_key=True),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("ticket_id", sa.BigInteger, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # encrypted (shared.crypto)
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("action_id", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    # One action gives each recipient at most one notice, even if the rules erred.
    sa.UniqueConstraint("action_id", "recipient_id", name="notices_action_recipient_key"),
)
sa.Index(
    "notices_recipient_newest",
    notices.c.recipient_id,
    notices.c.created_at.desc(),
    notices.c.id.desc(),
)
# Partial on unread rows and ordered like the list: the unread count and the unread
# list never visit the read notices that pile up.
sa.Index(
    "notices_recipient_unread_newest",
    notices.c.recipient_id,
    notices.c.created_at.desc(),
    notices.c.id.desc(),
    postgresql_where=notices.c.read_at.is_(None),
)

# Every event handled that caused notices: the insert is the idempotency check
# (unique key), made in the same statement as the notices. An event that causes
# none leaves no row (handling it again changes nothing).
processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column(
        "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# A keyed POST's answer, stored with its action (shared/idempotency.py).
idempotency_keys = idempotency.keys_table(metadata)
