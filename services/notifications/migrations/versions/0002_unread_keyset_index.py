"""The unread index also orders: it serves the unread count and the unread list.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Partial on unread rows, so neither the count nor the unread list ever visits
    # the read notices that pile up; ordered like the list, so a page is a range scan.
    op.execute(
        "CREATE INDEX notices_recipient_unread_newest "
        "ON notices (recipient_id, created_at DESC, id DESC) WHERE read_at IS NULL"
    )
    op.execute("DROP INDEX notices_recipient_unread")


def downgrade():
    op.execute(
        "CREATE INDEX notices_recipient_unread ON notices (recipient_id) WHERE read_at IS NULL"
    )
    op.execute("DROP INDEX notices_recipient_unread_newest")
