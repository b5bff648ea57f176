"""Keyless commands are recorded under their RPC call (shared/idempotency.py): an index
finds those rows by age, so they are pruned after minutes, apart from the keys.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE INDEX idempotency_keys_calls_created_at ON idempotency_keys (created_at) "
        "WHERE key LIKE '\u00a7call:%'"
    )


def downgrade():
    op.execute("DROP INDEX idempotency_keys_calls_created_at")
