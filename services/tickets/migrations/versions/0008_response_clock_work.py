"""The response clocks' due work: a warning at ``sla_warn_at`` and a breach at
``sla_due_at`` for every clock counting when this runs and not yet told (tickets
changed before the clocks were wired to the scheduler); the first tick catches up
on what is already past, once each (decision 0021).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "INSERT INTO due_work (ticket_id, kind, due_at) "
        "SELECT id, 'sla_warning', sla_warn_at FROM tickets "
        "WHERE sla_started_at IS NOT NULL AND sla_warn_at IS NOT NULL AND sla_notified IS NULL "
        "ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO due_work (ticket_id, kind, due_at) "
        "SELECT id, 'sla_breach', sla_due_at FROM tickets "
        "WHERE sla_started_at IS NOT NULL AND sla_due_at IS NOT NULL "
        "AND sla_notified IS DISTINCT FROM 'breached' "
        "ON CONFLICT DO NOTHING"
    )


def downgrade():
    op.execute("DELETE FROM due_work WHERE kind IN ('sla_warning', 'sla_breach')")
