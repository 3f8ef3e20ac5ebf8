"""The desk's rules that need no database: ticket kinds, the status machine, ITIL priority.

Pure Python on purpose (cosmicpython's domain): the ORM models and the service layer
use these, never the other way round.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class DeskError(Exception):
    """A request the desk refuses; the message is meant for the person who asked."""


class InvalidTransition(DeskError):
    pass


class NotFound(DeskError):
    pass


class DuplicateKey(DeskError):
    """An idempotency key (or another unique natural key) that already exists."""


class TicketType(str, enum.Enum):
    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    PROBLEM = "problem"
    CHANGE = "change"


class Status(str, enum.Enum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset({Status.NEW, Status.OPEN, Status.PENDING})

# Closed is final: a requester who writes again after closure gets a new ticket.
# resolved -> open is the reopen, allowed only inside the reopen window (checked by the service).
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (closed is final)"
        raise InvalidTransition(
            f"cannot move a ticket from {current.value} to {target.value}; allowed from {current.value}: {allowed}"
        )


class ResolutionCode(str, enum.Enum):
    SELF_SERVICE = "self_service"  # the requester confirmed the KB answer solved it
    POTENTIAL_DEFLECTION = "potential_deflection"  # KB answer, no reply within the confirmation window
    AGENT = "agent"
    REQUESTER = "requester"  # "it works now"
    WORKAROUND = "workaround"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"


class Level(int, enum.Enum):
    """Impact and urgency share the ITIL three-step scale; 1 is the highest."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Priority(str, enum.Enum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


# ITIL impact x urgency matrix: rows impact, columns urgency.
PRIORITY_MATRIX: Mapping[tuple[Level, Level], Priority] = {
    (Level.HIGH, Level.HIGH): Priority.P1,
    (Level.HIGH, Level.MEDIUM): Priority.P2,
    (Level.HIGH, Level.LOW): Priority.P3,
    (Level.MEDIUM, Level.HIGH): Priority.P2,
    (Level.MEDIUM, Level.MEDIUM): Priority.P3,
    (Level.MEDIUM, Level.LOW): Priority.P4,
    (Level.LOW, Level.HIGH): Priority.P3,
    (Level.LOW, Level.MEDIUM): Priority.P4,
    (Level.LOW, Level.LOW): Priority.P4,
}


def priority_for(impact: Level, urgency: Level) -> Priority:
    return PRIORITY_MATRIX[(Level(impact), Level(urgency))]


class Role(str, enum.Enum):
    AGENT = "agent"
    ADMIN = "admin"


class Direction(str, enum.Enum):
    INBOUND = "inbound"  # from the requester
    OUTBOUND = "outbound"  # to the requester (bot or agent)
    NOTE = "note"  # internal, never sent to the requester


class AuthorKind(str, enum.Enum):
    REQUESTER = "requester"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class SlaKind(str, enum.Enum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class SlaLevel(str, enum.Enum):
    WARNING = "warning"  # 80 % of the target used
    BREACH = "breach"


class SlaState(str, enum.Enum):
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"
    MISSED = "missed"


class ConversationWait(str, enum.Enum):
    NOTHING = "nothing"
    CONFIRMATION = "confirmation"  # "did this solve it?"
    CLARIFICATION = "clarification"  # one clarifying question, at most
    SECURITY_ANSWER = "security_answer"  # "is this about a suspicious email, a lost device or a virus?"
    NEW_PROBLEM_ANSWER = "new_problem_answer"  # "is this about #1001 or a new problem?"


class QueueStatus(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"  # dead letter: kept with its error until someone retries it
    HELD = "held"  # over its sender's hourly limit: stored, never claimed, until someone releases it


class AdminAction(str, enum.Enum):
    """What an admin changed (the admin audit's ``action``)."""

    USER_CREATED = "user.created"
    USER_ACTIVE = "user.active"
    USER_PASSWORD = "user.password"
    USER_ROLE = "user.role"
    USER_GROUPS = "user.groups"
    GROUP_CREATED = "group.created"
    GROUP_CALENDAR = "group.calendar"
    GROUP_NOTICES = "group.notices"
    ROUTING_RULE = "routing.rule"
    SLA_POLICY = "sla.policy"
    INBOX_RETRY = "inbox.retry"
    OUTBOX_RETRY = "outbox.retry"
    MODEL_ACTIVATED = "model.activated"
    MODEL_RETRAINING = "model.retraining"
    KB_PUBLISHED = "kb.published"
    KB_RETIRED = "kb.retired"


class ArticleStatus(str, enum.Enum):
    """Where a knowledge-base article stands: only a published one reaches readers and the bot."""

    DRAFT = "draft"  # never published yet
    PUBLISHED = "published"  # its published version is live (a newer version may wait as a draft of it)
    RETIRED = "retired"  # withdrawn: neither offered nor shown, its history kept


class Feedback(str, enum.Enum):
    """What happened to a published article, counted per article."""

    SHOWN = "shown"  # the bot offered it and asked "did this solve it?"
    SOLVED = "solved"  # the requester said yes
    NOT_SOLVED = "not_solved"  # the requester said no (a ticket opened)
    VIEWED = "viewed"  # someone opened its /kb page
