"""Tickets, messages, timeline, the daily allowance counter and the outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Trigram index: case-insensitive subject substring search stays fast at millions of rows.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE tickets (
            id bigserial PRIMARY KEY,
            owner_id text NOT NULL,
            owner_name text,
            issue_type text NOT NULL,
            feature text NOT NULL,
            subject text NOT NULL,
            description text NOT NULL,           -- encrypted (shared.crypto)
            priority text NOT NULL,
            priority_rank smallint NOT NULL,     -- 0 = critical: the admin queue sorts on it
            status text NOT NULL,
            assignee_id text,
            assignee_name text,
            resolution_note text,                -- encrypted
            closed_note text,                    -- encrypted
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            last_message_at timestamptz,
            CONSTRAINT tickets_status_check CHECK (
                status IN ('open', 'in_review', 'awaiting_user', 'resolved', 'closed')),
            CONSTRAINT tickets_priority_check CHECK (
                priority IN ('critical', 'high', 'medium', 'low'))
        )
        """
    )
    op.execute("CREATE INDEX tickets_owner_id_idx ON tickets (owner_id, id DESC)")
    op.execute("CREATE INDEX tickets_status_idx ON tickets (status, id DESC)")
    op.execute("CREATE INDEX tickets_assignee_idx ON tickets (assignee_id, id DESC)")
    op.execute("CREATE INDEX tickets_priority_queue_idx ON tickets (priority_rank, id)")
    op.execute("CREATE INDEX tickets_updated_idx ON tickets (updated_at DESC, id DESC)")
    op.execute("CREATE INDEX tickets_subject_trgm_idx ON tickets USING gin (subject gin_trgm_ops)")
    op.execute(
        """
        CREATE TABLE messages (
            id bigserial PRIMARY KEY,
            ticket_id bigint NOT NULL REFERENCES tickets (id),
            author text NOT NULL CHECK (author IN ('user', 'support')),
            author_id text,
            author_name text,
            internal boolean NOT NULL DEFAULT false,
            body text NOT NULL,                  -- encrypted, internal notes included
            created_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX messages_ticket_idx ON messages (ticket_id, id)")
    op.execute(
        """
        CREATE TABLE timeline (
            id bigserial PRIMARY KEY,
            ticket_id bigint NOT NULL REFERENCES tickets (id),
            status text NOT NULL,
            by text NOT NULL CHECK (by IN ('user', 'support', 'system')),
            actor_id text,
            at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX timeline_ticket_idx ON timeline (ticket_id, id)")
    # One row per (owner, UTC day): the conditional upsert makes the daily limit exact.
    op.execute(
        """
        CREATE TABLE ticket_allowance (
            owner_id text NOT NULL,
            day date NOT NULL,
            n integer NOT NULL,
            PRIMARY KEY (owner_id, day)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            type text NOT NULL,
            routing_key text NOT NULL,
            body jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL")


def downgrade():
    for table in ("outbox", "ticket_allowance", "timeline", "messages", "tickets"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
