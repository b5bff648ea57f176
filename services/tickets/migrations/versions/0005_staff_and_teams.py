"""Staff and teams: the directory of known staff, teams that take features and issue
types, and the team each ticket was routed to (docs/decisions/0022-staff-teams-routing.md).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Every admin who made an API call (the gateway records them) and anyone named
    # in a team; ``name`` is the latest name a token carried (null until one did).
    op.execute(
        """
        CREATE TABLE staff (
            id text PRIMARY KEY,
            name text,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # ``id`` is the creation order: "the first team that takes a feature" is the
    # oldest. ``members`` keep their order (round robin walks it); the last member a
    # round robin gave a ticket to is where the next one starts.
    op.execute(
        """
        CREATE TABLE teams (
            id bigserial PRIMARY KEY,
            key text NOT NULL UNIQUE,
            label text NOT NULL,
            members text[] NOT NULL DEFAULT '{}',
            features text[] NOT NULL DEFAULT '{}',
            issue_types text[] NOT NULL DEFAULT '{}',
            assignment text NOT NULL DEFAULT 'manual',
            last_assigned_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT teams_assignment_check CHECK (
                assignment IN ('manual', 'round_robin', 'fewest_open'))
        )
        """
    )
    # Nullable, no default: no row is rewritten. A deleted team leaves its tickets
    # with no team (they go back to "the team is everybody").
    op.execute(
        "ALTER TABLE tickets ADD COLUMN team_key text "
        "REFERENCES teams (key) ON UPDATE CASCADE ON DELETE SET NULL"
    )
    op.execute("CREATE INDEX tickets_team_idx ON tickets (team_key, id DESC)")
    # A member's open load (the directory's open_assigned, fewest_open's choice):
    # counted from the tickets still needing work only.
    op.execute(
        "CREATE INDEX tickets_open_assigned_idx ON tickets (assignee_id) "
        "WHERE status NOT IN ('resolved', 'closed')"
    )


def downgrade():
    op.execute("DROP INDEX tickets_open_assigned_idx")
    op.execute("ALTER TABLE tickets DROP COLUMN team_key")
    op.execute("DROP TABLE teams")
    op.execute("DROP TABLE staff")
