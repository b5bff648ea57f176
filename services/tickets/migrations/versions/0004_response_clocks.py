"""Response clocks: the response a ticket owes, when it is at risk and due.

Columns as ``services/tickets/tables.py`` describes them; the index serves the
queue sorted by the soonest owed response (``sort=due``: tickets owing none
last, hence the ``infinity`` for them) and the ``sla=`` filters, which compare
the same expression. Tickets opened before this revision owe nothing until
their next change starts a clock (their owner writing, or coming back to review).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("sla_response", "text"),
    ("sla_started_at", "timestamptz"),
    # A constant default: PostgreSQL adds it without rewriting the table.
    ("sla_elapsed", "double precision NOT NULL DEFAULT 0"),
    ("sla_warn_at", "timestamptz"),
    ("sla_due_at", "timestamptz"),
    ("sla_notified", "text"),
    ("first_response_due_at", "timestamptz"),
    ("first_response_at", "timestamptz"),
)


def upgrade():
    op.execute(
        "ALTER TABLE tickets " + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in COLUMNS)
    )
    op.execute(
        "CREATE INDEX tickets_due_queue_idx ON tickets "
        "((COALESCE(sla_due_at, 'infinity'::timestamptz)), id)"
    )


def downgrade():
    op.execute("DROP INDEX tickets_due_queue_idx")
    op.execute("ALTER TABLE tickets " + ", ".join(f"DROP COLUMN {name}" for name, _ in COLUMNS))
