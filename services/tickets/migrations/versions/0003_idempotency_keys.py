"""Idempotency keys: a repeated POST replays its first answer (shared/idempotency.py).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from shared.idempotency import CREATE_STATEMENTS, TABLE

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # The same table in each service's own database.
    for statement in CREATE_STATEMENTS:
        op.execute(statement)


def downgrade():
    op.execute(f"DROP TABLE {TABLE}")
