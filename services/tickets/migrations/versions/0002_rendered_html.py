"""Rendered HTML stored beside its text: tickets.description_html, messages.body_html.

Text is rendered once, when it is written (``shared.rendering``), and sealed like
the text itself. Rows written before this revision have NULL here until
``python -m services.tickets.fill_html`` renders them (it needs the data keys,
which migrations do not hold); until then their views render them on read.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: adding the columns rewrites no row and takes no long lock.
    op.execute("ALTER TABLE tickets ADD COLUMN description_html text")  # encrypted
    op.execute("ALTER TABLE messages ADD COLUMN body_html text")  # encrypted


def downgrade():
    op.execute("ALTER TABLE messages DROP COLUMN body_html")
    op.execute("ALTER TABLE tickets DROP COLUMN description_html")
