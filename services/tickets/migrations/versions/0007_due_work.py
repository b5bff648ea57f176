"""Due work: what falls due with time (auto-close, reminders), one row per ticket and kind.

The scheduler finds due rows through ``due_work_due`` (``due_at`` first), never by
scanning tickets. Tickets already resolved or awaiting their owner when this runs
are scheduled here, from when they entered that status (their latest timeline
entry for it), with the durations in this process's environment, the defaults
when unset (``HELPDESK_AUTO_CLOSE_AFTER``, ``HELPDESK_AUTO_CLOSE_REMINDER``,
``HELPDESK_AWAITING_REMINDER_AFTER``; docs/decisions/0020-due-work-table.md): the
first tick then catches up on what is already past due, once.

Revision ID: 0007
Revises: 0006
"""

import os
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from shared.config import ConfigError, parse_duration

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The contract's defaults as they stood when this revision was written (frozen here:
# a later change of the service's defaults does not rewrite what this step did).
_DEFAULTS = {
    "HELPDESK_AUTO_CLOSE_AFTER": "7d",
    "HELPDESK_AUTO_CLOSE_REMINDER": "1d",
    "HELPDESK_AWAITING_REMINDER_AFTER": "3d",
}


def _duration(name: str) -> timedelta | None:
    """The setting as the service reads it; None when ``0`` turns it off."""
    raw = os.environ.get(name) or _DEFAULTS[name]
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return timedelta(seconds=seconds) if seconds else None


# Each resolved or awaiting ticket with when it entered its current status.
_SCHEDULE = sa.text(
    """
    INSERT INTO due_work (ticket_id, kind, due_at)
    SELECT t.id, :kind, max(tl.at) + :after
    FROM tickets t JOIN timeline tl ON tl.ticket_id = t.id AND tl.status = t.status
    WHERE t.status = :status
    GROUP BY t.id
    ON CONFLICT DO NOTHING
    """
)


def upgrade():
    op.execute(
        """
        CREATE TABLE due_work (
            ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
            kind text NOT NULL,
            due_at timestamptz NOT NULL,
            PRIMARY KEY (ticket_id, kind)
        )
        """
    )
    # The claim walks this from the oldest due row; ticket_id and kind make its
    # keyset cursor (a tick steps past rows it could not take) an index range too.
    op.execute("CREATE INDEX due_work_due ON due_work (due_at, ticket_id, kind)")

    auto_close = _duration("HELPDESK_AUTO_CLOSE_AFTER")
    reminder = _duration("HELPDESK_AUTO_CLOSE_REMINDER")
    awaiting = _duration("HELPDESK_AWAITING_REMINDER_AFTER")
    bind = op.get_bind()
    if auto_close is not None:
        bind.execute(_SCHEDULE, {"kind": "auto_close", "after": auto_close, "status": "resolved"})
        if reminder is not None and reminder < auto_close:
            bind.execute(
                _SCHEDULE,
                {"kind": "closing_soon", "after": auto_close - reminder, "status": "resolved"},
            )
    if awaiting is not None:
        bind.execute(
            _SCHEDULE, {"kind": "awaiting_reminder", "after": awaiting, "status": "awaiting_user"}
        )


def downgrade():
    op.execute("DROP TABLE due_work")
