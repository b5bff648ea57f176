"""Notices and the processed-event ledger.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
        CREATE TABLE notices (
            id bigint PRIMARY KEY,
            recipient_id text NOT NULL,
            kind text NOT NULL,
            ticket_id bigint NOT NULL,
            title text NOT NULL,                 -- the ticket number only, never ticket text
            body text NOT NULL,                  -- encrypted (shared.crypto)
            event_id uuid NOT NULL,
            action_id uuid NOT NULL,
            created_at timestamptz NOT NULL,
            read_at timestamptz,
            -- one action gives each recipient at most one notice
            CONSTRAINT notices_action_recipient_key UNIQUE (action_id, recipient_id)
        )
        """
    )
    # Ids are drawn before the insert: the encrypted body is bound to its row id.
    op.execute("CREATE SEQUENCE notices_id_seq OWNED BY notices.id")
    op.execute("ALTER TABLE notices ALTER COLUMN id SET DEFAULT nextval('notices_id_seq')")
    # A recipient's list, newest first, read by keyset.
    op.execute(
        "CREATE INDEX notices_recipient_newest ON notices (recipient_id, created_at DESC, id DESC)"
    )
    # The unread count touches only unread rows, however many read ones pile up.
    op.execute(
        "CREATE INDEX notices_recipient_unread ON notices (recipient_id) WHERE read_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE processed_events (
            event_id uuid PRIMARY KEY,
            event_type text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade():
    op.execute("DROP TABLE processed_events")
    op.execute("DROP TABLE notices")
