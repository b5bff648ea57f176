"""Support's workspace: resolution history, priority changes, follow-ups, macros.

- ``resolutions``: every resolution note a ticket has had (``tickets.resolution_note``
  stays the latest). Notes are sealed, bound to their row, so the ones written
  before this revision are copied in by ``python -m services.tickets.fill_html``
  (it holds the data keys, migrations do not); until then a view shows the
  ticket's current note as its one resolution.
- ``priority_changes``: support's changes of priority with their reasons.
- ``tickets.follows_up_id``: the owner's earlier ticket a ticket follows up.
- ``macros``: canned replies.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
        CREATE TABLE resolutions (
            id bigserial PRIMARY KEY,
            ticket_id bigint NOT NULL REFERENCES tickets (id),
            note text NOT NULL,                  -- encrypted
            at timestamptz NOT NULL,
            by_id text,
            by_name text
        )
        """
    )
    op.execute("CREATE INDEX resolutions_ticket_idx ON resolutions (ticket_id, id)")
    op.execute(
        """
        CREATE TABLE priority_changes (
            id bigserial PRIMARY KEY,
            ticket_id bigint NOT NULL REFERENCES tickets (id),
            from_priority text NOT NULL,
            to_priority text NOT NULL,
            reason text NOT NULL,
            at timestamptz NOT NULL,
            by_id text NOT NULL,
            by_name text
        )
        """
    )
    op.execute("CREATE INDEX priority_changes_ticket_idx ON priority_changes (ticket_id, id)")
    # Nullable, no default: adding it rewrites no row.
    op.execute("ALTER TABLE tickets ADD COLUMN follows_up_id bigint REFERENCES tickets (id)")
    op.execute(
        "CREATE INDEX tickets_follows_up_idx ON tickets (follows_up_id, id) "
        "WHERE follows_up_id IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE macros (
            id bigserial PRIMARY KEY,
            title text NOT NULL,
            body text NOT NULL,
            status text CHECK (
                status IN ('open', 'in_review', 'awaiting_user', 'resolved', 'closed')),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            updated_by_name text
        )
        """
    )


def downgrade():
    op.execute("DROP TABLE macros")
    op.execute("ALTER TABLE tickets DROP COLUMN follows_up_id")
    op.execute("DROP TABLE priority_changes")
    op.execute("DROP TABLE resolutions")
