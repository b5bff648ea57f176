"""The catalog: what a ticket form offers, and the limits every layer enforces.

Issue type keys, labels and priorities, statuses and limits are product rules (the
contract fixes them). What each issue type's description says and the features are
configuration: the operators' catalog file (``HELPDESK_CATALOG_FILE``), which the
settings of the service that owns tickets read and check; ``build_catalog`` takes
them from there.
"""

# The contract's issue types: keys, labels and the priority each gets, fixed.
ISSUE_TYPES = (
    {"key": "access", "label": "Access", "priority": "critical"},
    {"key": "bug", "label": "Bug", "priority": "high"},
    {"key": "billing", "label": "Billing", "priority": "high"},
    {"key": "data", "label": "Data", "priority": "medium"},
    {"key": "other", "label": "Other", "priority": "low"},
)
ISSUE_TYPE_KEYS = tuple(t["key"] for t in ISSUE_TYPES)
PRIORITY_BY_ISSUE_TYPE = {t["key"]: t["priority"] for t in ISSUE_TYPES}

# What a key an admin names (a team's) may look like: the catalog's own keys'
# shape (``billing``, ``in_review``), lowercase ASCII, at most 64 characters.
KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
KEY_RULE = "Must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit."

# Ordered from most to least urgent: the admin queue sorts by this rank.
PRIORITIES = ("critical", "high", "medium", "low")
# How a team assigns a new ticket: by hand, in turn, or to the member with the
# fewest open tickets (the owning service's domain applies them).
TEAM_ASSIGNMENTS = ("manual", "round_robin", "fewest_open")
# A token's role claim: who files tickets, and who works the support queue.
USER_ROLE, ADMIN_ROLE = "user", "admin"
ROLES = (USER_ROLE, ADMIN_ROLE)
# Who wrote a message: the ticket's owner or support; and who caused a timeline
# entry or an event: one of those, or the system (scheduled work).
AUTHORS = ("user", "support")
ACTORS = (*AUTHORS, "system")

STATUSES = (
    {"key": "open", "label": "Open"},
    {"key": "in_review", "label": "In Review"},
    {"key": "awaiting_user", "label": "Awaiting User"},
    {"key": "resolved", "label": "Resolved"},
    {"key": "closed", "label": "Closed"},
)
STATUS_KEYS = tuple(s["key"] for s in STATUSES)
# A ticket still needing work (resolved ones wait on their owner, closed ones are
# done): a staff member's "open" tickets, and the dashboard's open counts.
OPEN_STATUSES = STATUS_KEYS[:3]

SUBJECT_LENGTH = (10, 200)
DESCRIPTION_LENGTH = (50, 2000)
MESSAGE_LENGTH = (1, 5000)
RESOLUTION_NOTE_LENGTH = (10, 2000)
# A ticket's view carries its latest messages only; earlier ones come in pages of up
# to MAX_MESSAGES_PAGE, so a view costs the same for a ticket with thousands of
# messages as for a new one (docs/decisions/0006-bounded-ticket-view.md).
VIEW_MESSAGES = 50
MAX_MESSAGES_PAGE = 100
CLOSE_NOTE_LENGTH = (0, 2000)
# Why support changed a ticket's priority (kept in its history).
PRIORITY_REASON_LENGTH = (3, 500)
# A view lists at most this many of the later tickets that follow a ticket up.
VIEW_FOLLOW_UPS = 50
# The dashboard's window (GET /api/v1/admin/stats?days=): UTC days, today included.
STATS_DAYS = (1, 90)
DEFAULT_STATS_DAYS = 14
# Canned replies (macros): a title, a body with placeholders the reply box fills in.
MACRO_TITLE_LENGTH = (1, 200)
MACRO_PLACEHOLDERS = ("owner_name", "ticket_id", "agent_name")
# The orders of the support queue (GET /api/v1/admin/tickets?sort=).
SORTS = ("priority", "created", "updated", "due")
# A ticket's response clock as support sees it (``sla.state``): a response owed and
# on track, 80% of its target gone, past due; or none owed. The queue filters by the
# first three (``sla=``).
SLA_FILTERS = ("due", "at_risk", "breached")
SLA_STATES = (*SLA_FILTERS, "none")
# What an in-app notice tells (its ``kind``); the notifications service's domain
# says which event gives whom which.
NOTICE_KINDS = (
    "support_reply",
    "status_changed",
    "ticket_resolved",
    "user_reply",
    "ticket_assigned",
    "sla_warning",
    "sla_breached",
    "new_ticket",
    "closing_soon",
    "awaiting_reminder",
)
# The response a ticket owes: its first, or the next after its owner wrote again
# (the response targets' keys, and an SLA event's ``response``).
RESPONSES = ("first", "next")
# The contract's default response targets, in seconds (configurable; see
# HELPDESK_SLA_FIRST_RESPONSE and HELPDESK_SLA_NEXT_RESPONSE).
DEFAULT_FIRST_RESPONSE = (
    ("critical", 4 * 3600),
    ("high", 8 * 3600),
    ("medium", 24 * 3600),
    ("low", 24 * 3600),
)
DEFAULT_NEXT_RESPONSE = 48 * 3600
DEFAULT_SORT = "created"


def build_catalog(settings) -> dict:
    """The ``GET /api/v1/catalog`` document for the configured catalog, limits and
    response targets (``settings``: ``issue_type_descriptions``, ``features``,
    ``tickets_per_day``, ``messages_per_hour``, ``response_targets`` as
    ``{"first": {priority: seconds}, "next": seconds}``)."""
    descriptions = dict(settings.issue_type_descriptions)
    response_targets = settings.response_targets
    return {
        "issue_types": [{**t, "description": descriptions[t["key"]]} for t in ISSUE_TYPES],
        "features": [{"key": k, "label": label} for k, label in settings.features],
        "statuses": [dict(s) for s in STATUSES],
        "limits": {
            "subject": list(SUBJECT_LENGTH),
            "description": list(DESCRIPTION_LENGTH),
            "message": list(MESSAGE_LENGTH),
            "resolution_note": list(RESOLUTION_NOTE_LENGTH),
            "close_note": list(CLOSE_NOTE_LENGTH),
            "priority_reason": list(PRIORITY_REASON_LENGTH),
            "tickets_per_day": settings.tickets_per_day,
            "messages_per_hour": settings.messages_per_hour,
        },
        "response_targets": {
            "first": {p: int(response_targets["first"][p]) for p in PRIORITIES},
            "next": int(response_targets["next"]),
        },
    }
