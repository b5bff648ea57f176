"""The tickets service's schema as SQLAlchemy Core tables: what the migrations create,
indexes, keys, defaults and checks included
(``tools/tests/test_tables_match_migrations.py`` holds the two to the same).

Columns marked *encrypted* hold ``shared.crypto`` values bound to their row id
and to what decides who reads them (``SEALED_CONTEXT``); subjects stay plaintext
so they can be searched.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from services.tickets.domain import ASSIGNMENTS
from shared import idempotency
from shared.catalog import PRIORITIES, STATUS_KEYS
from shared.outbox import OUTBOX_CONTEXT

metadata = sa.MetaData()

# (table, column, id column[, JSON field]) of every value sealed with shared.crypto:
# the keyring checks them at start-up and ``helpdesk-rotate-keys`` re-encrypts
# them. Unpublished outbox rows hold their event sealed in ``body -> 'sealed'``.
ENCRYPTED_COLUMNS = (
    ("tickets", "description", "id"),
    ("tickets", "description_html", "id"),
    ("tickets", "resolution_note", "id"),
    ("tickets", "closed_note", "id"),
    ("messages", "body", "id"),
    ("messages", "body_html", "id"),
    ("resolutions", "note", "id"),
    ("outbox", "body", "event_id", "sealed"),
    idempotency.ENCRYPTED_COLUMN,
)
# Per table, the columns of a row that decide who may read its sealed values: each
# value is bound to them (shared.crypto.Binding), so a row moved to another owner,
# ticket or audience by a write behind the service's back fails authentication.
# Per table, not per column: a sealed column added to a table is bound the same way.
SEALED_CONTEXT = {
    "tickets": ("owner_id",),  # the owner reads a ticket's text
    # The ticket's readers, and whether its owner is among them.
    "messages": ("ticket_id", "internal"),
    "resolutions": ("ticket_id",),  # the ticket's readers, its owner among them
    "outbox": OUTBOX_CONTEXT,
    idempotency.TABLE: idempotency.CONTEXT,  # the caller a kept answer was given to
}

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("owner_name", sa.Text),
    sa.Column("issue_type", sa.Text, nullable=False),
    sa.Column("feature", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),  # encrypted
    # Rendered when written (shared.rendering); NULL only on rows older than that.
    sa.Column("description_html", sa.Text),  # encrypted
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("priority_rank", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("assignee_id", sa.Text),
    sa.Column("assignee_name", sa.Text),
    sa.Column("resolution_note", sa.Text),  # encrypted
    sa.Column("closed_note", sa.Text),  # encrypted
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_message_at", sa.DateTime(timezone=True)),
    # The response clock (services/tickets/clocks.py): the response owed (first, next
    # or NULL), counting since sla_started_at (NULL while paused) after sla_elapsed
    # seconds of earlier runs; at risk from sla_warn_at, due at sla_due_at (both NULL
    # unless counting); what support was told of it (sla_notified).
    sa.Column("sla_response", sa.Text),
    sa.Column("sla_started_at", sa.DateTime(timezone=True)),
    sa.Column("sla_elapsed", sa.Float, nullable=False, server_default="0"),
    sa.Column("sla_warn_at", sa.DateTime(timezone=True)),
    sa.Column("sla_due_at", sa.DateTime(timezone=True)),
    sa.Column("sla_notified", sa.Text),
    # When the first public support reply was due and when it came (kept for good).
    sa.Column("first_response_due_at", sa.DateTime(timezone=True)),
    sa.Column("first_response_at", sa.DateTime(timezone=True)),
    # The team it was routed to on arrival (null: none took it, or it was deleted).
    sa.Column(
        "team_key",
        sa.Text,
        sa.ForeignKey(
            "teams.key", name="tickets_team_key_fkey", onupdate="CASCADE", ondelete="SET NULL"
        ),
    ),
    # The owner's earlier ticket this one follows up ("this happened again").
    sa.Column("follows_up_id", sa.BigInteger, sa.ForeignKey("tickets.id")),
    # Only the contract's statuses and priorities: built from the constants the code
    # uses, so a value added there without a migration fails the schema test.
    sa.CheckConstraint(sa.column("status").in_(STATUS_KEYS), name="tickets_status_check"),
    sa.CheckConstraint(sa.column("priority").in_(PRIORITIES), name="tickets_priority_check"),
)
# The lists and the queue, newest first, keyset-paged: a user's own tickets, and
# support's filters by status, by assignee and by team (``team=``).
sa.Index("tickets_owner_id_idx", tickets.c.owner_id, tickets.c.id.desc())
sa.Index("tickets_status_idx", tickets.c.status, tickets.c.id.desc())
sa.Index("tickets_assignee_idx", tickets.c.assignee_id, tickets.c.id.desc())
sa.Index("tickets_team_idx", tickets.c.team_key, tickets.c.id.desc())
# The queue's sorts: ``priority`` (critical first, then oldest), ``updated`` (newest
# change first) and ``due`` (soonest owed response first, none owed last; the
# ``sla=`` filters compare the same expression).
sa.Index("tickets_priority_queue_idx", tickets.c.priority_rank, tickets.c.id)
sa.Index("tickets_updated_idx", tickets.c.updated_at.desc(), tickets.c.id.desc())
sa.Index(
    "tickets_due_queue_idx",
    sa.func.coalesce(tickets.c.sla_due_at, sa.literal_column("'infinity'::timestamptz")),
    tickets.c.id,
)
# Case-insensitive subject substring search (trigrams, extension pg_trgm).
sa.Index(
    "tickets_subject_trgm_idx",
    tickets.c.subject,
    postgresql_using="gin",
    postgresql_ops={"subject": "gin_trgm_ops"},
)
# A member's open load (the directory's open_assigned, fewest_open's choice),
# counted from the tickets still needing work only.
sa.Index(
    "tickets_open_assigned_idx",
    tickets.c.assignee_id,
    postgresql_where=tickets.c.status.not_in(("resolved", "closed")),
)
# A ticket's follow-ups (its view shows them); most tickets follow up none.
sa.Index(
    "tickets_follows_up_idx",
    tickets.c.follows_up_id,
    tickets.c.id,
    postgresql_where=tickets.c.follows_up_id.is_not(None),
)


def _ticket_parts(name: str, *columns: sa.Column | sa.CheckConstraint) -> sa.Table:
    """A table of one ticket's parts (its messages, timeline entries...): each row has
    its own id and its ticket's, and a ticket's rows are read in order through the
    ``(ticket_id, id)`` index the migrations create with it. ``columns``: its own
    columns, and the checks on them."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id"), nullable=False),
        *columns,
        sa.Index(f"{name}_ticket_idx", "ticket_id", "id"),
    )


messages = _ticket_parts(
    "messages",
    sa.Column("author", sa.Text, nullable=False),
    sa.CheckConstraint(sa.column("author").in_(("user", "support")), name="messages_author_check"),
    sa.Column("author_id", sa.Text),
    sa.Column("author_name", sa.Text),
    sa.Column("internal", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("body", sa.Text, nullable=False),  # encrypted
    sa.Column("body_html", sa.Text),  # encrypted, like description_html
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

timeline = _ticket_parts(
    "timeline",
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("by", sa.Text, nullable=False),
    # Who moved it: its owner, support, or the scheduler (auto-close).
    sa.CheckConstraint(
        sa.column("by").in_(("user", "support", "system")), name="timeline_by_check"
    ),
    sa.Column("actor_id", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Every resolution note a ticket has had, oldest first (tickets.resolution_note: the latest).
resolutions = _ticket_parts(
    "resolutions",
    sa.Column("note", sa.Text, nullable=False),  # encrypted
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("by_id", sa.Text),
    sa.Column("by_name", sa.Text),
)

# Support's priority changes and their reasons (shown to support only).
priority_changes = _ticket_parts(
    "priority_changes",
    sa.Column("from_priority", sa.Text, nullable=False),
    sa.Column("to_priority", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("by_id", sa.Text, nullable=False),
    sa.Column("by_name", sa.Text),
)

# Canned replies support staff share (staff-written templates, no customer text).
macros = sa.Table(
    "macros",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text),  # the status it preselects beside Send (NULL: none)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by_name", sa.Text),
    sa.CheckConstraint(sa.column("status").in_(STATUS_KEYS), name="macros_status_check"),
)

# Time-driven work (auto-close, reminders, response clocks): one row per ticket and
# kind, written with the change that schedules it; the scheduler claims the rows
# whose due_at has passed, through the (due_at, ticket_id, kind) index, and deletes
# each in the transaction that does its work (docs/decisions/0020-due-work-table.md).
due_work = sa.Table(
    "due_work",
    metadata,
    sa.Column(
        "ticket_id",
        sa.BigInteger,
        sa.ForeignKey("tickets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("due_work_due", "due_at", "ticket_id", "kind"),
)

ticket_allowance = sa.Table(
    "ticket_allowance",
    metadata,
    sa.Column("owner_id", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("routing_key", sa.Text, nullable=False),
    sa.Column("body", JSONB, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("published_at", sa.DateTime(timezone=True)),
)
# The relay's batch: the rows not yet published, oldest first (shared/outbox.py).
sa.Index("outbox_unpublished_idx", outbox.c.id, postgresql_where=outbox.c.published_at.is_(None))

# The staff directory: every admin who made an API call (recorded by the gateway
# through ``record_staff``) and anyone named in a team; ``name`` is the latest a
# token carried.
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column(
        "first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# Teams, in creation order (``id``): the first that takes a new ticket's feature,
# else its issue type, gets it. ``last_assigned_id``: where round robin resumes.
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("members", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("features", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("issue_types", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("assignment", sa.Text, nullable=False, server_default="manual"),
    sa.Column("last_assigned_id", sa.Text),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint(sa.column("assignment").in_(ASSIGNMENTS), name="teams_assignment_check"),
)

# A keyed POST's answer, or a keyless command's under its RPC call, stored with its
# action (shared/idempotency.py).
idempotency_keys = idempotency.keys_table(metadata, calls=True)
