"""What the tickets API takes and answers: query parameters, action bodies and response models."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from desk import AuthorKind, Direction, Priority, ResolutionCode, Status, TicketType
from desk.domain import SlaState
from desk.ticket_queries import MAX_PAGE, Position, TicketFilter

if TYPE_CHECKING:
    from desk.models import AuditEntry, Message, Ticket

DEFAULT_PAGE = 50
MAX_TEXT = 20_000  # an answer or a note longer than this is a paste gone wrong, not a message


class TicketQuery(BaseModel):
    """``GET /tickets``' query parameters; a list parameter may repeat (``?status=new&status=open``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter is a 422, not a silently wider list

    status: list[Status] = []
    type: list[TicketType] = []
    priority: list[Priority] = []
    sla_state: list[SlaState] = []
    group: list[str] = []
    channel: list[str] = []
    assignee: str | None = Field(None, max_length=64, description="a username")
    unassigned: bool = Field(False, description="only tickets nobody is assigned")
    requester: str | None = Field(None, max_length=254, description="the requester's email address")
    created_from: AwareDatetime | None = Field(None, description="inclusive, with a time zone")
    created_to: AwareDatetime | None = Field(None, description="exclusive, with a time zone")
    q: str | None = Field(None, max_length=200, description="text in the subject or any message")
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")

    def to_filter(self) -> TicketFilter:
        return TicketFilter(statuses=tuple(self.status), types=tuple(self.type), priorities=tuple(self.priority),
                            sla_states=tuple(self.sla_state), groups=tuple(self.group), channels=tuple(self.channel),
                            assignee=self.assignee, unassigned=self.unassigned, requester_email=self.requester, created_from=self.created_from,
                            created_to=self.created_to, text=self.q)


def encode_cursor(position: Position) -> str:
    raw = json.dumps({"at": position.created_at.isoformat(), "id": position.ticket_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position | None:
    """The position a cursor of ours encodes; None for anything else."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, ticket_id = dt.datetime.fromisoformat(fields["at"]), fields["id"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    if at.tzinfo is None or not isinstance(ticket_id, int):
        return None
    return Position(at, ticket_id)


# --- answers ---------------------------------------------------------------------------------------------------


class TicketRef(BaseModel):
    number: int
    subject: str
    status: Status


class TicketSummary(BaseModel):
    number: int
    subject: str
    status: Status
    type: TicketType
    priority: Priority
    group: str | None
    assignee: str | None  # a username
    requester: str  # the requester's name
    channel: str
    sla_state: SlaState
    first_response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketSummary:
        return cls(number=ticket.number, subject=ticket.subject, status=ticket.status, type=ticket.type,
                   priority=ticket.priority, group=ticket.group.name if ticket.group else None,
                   assignee=ticket.assignee.username if ticket.assignee else None,
                   requester=ticket.requester.display_name, channel=ticket.channel, sla_state=ticket.sla_state,
                   first_response_due=ticket.first_response_due, resolution_due=ticket.resolution_due,
                   created=ticket.created_at, updated=ticket.updated_at)


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None  # None: the last page


class MessageOut(BaseModel):
    id: int
    direction: Direction
    internal: bool  # a note: agents see it, the requester never does
    author_kind: AuthorKind
    author: str | None  # the agent's username for an agent's message
    channel: str
    text: str
    at: dt.datetime

    @classmethod
    def of(cls, message: Message, authors: dict[int, str]) -> MessageOut:
        return cls(id=message.id, direction=message.direction, internal=message.direction is Direction.NOTE,
                   author_kind=message.author_kind, author=authors.get(message.author_user_id or 0),
                   channel=message.channel, text=message.text, at=message.created_at)


class AuditOut(BaseModel):
    actor: str
    field: str
    old: str | None
    new: str | None
    at: dt.datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(actor=entry.actor, field=entry.field, old=entry.old, new=entry.new, at=entry.at)


class Reading(BaseModel):
    """What the NLP reads in the requester's latest message, now."""

    intent: str
    confidence: float
    out_of_scope: bool
    sentiment: str  # negative | neutral | positive
    frustration: float  # 0..1
    frustrated: bool  # at or above the model's strong-frustration threshold


class Analysis(BaseModel):
    intent: str | None  # what the bot read
    confirmed_intent: str | None  # what an agent said it was
    decisions: list[MessageOut]  # the bot's stored reasons, one note per message it decided on
    latest: Reading | None = None  # None when the NLP is not loaded in this process


class SuggestedArticle(BaseModel):
    id: str
    title: str
    section: str
    score: float
    url: str


class TicketDetail(TicketSummary):
    description: str
    impact: int
    urgency: int
    resolution_code: ResolutionCode | None
    csat_score: int | None
    problem: int | None  # the number of the problem it is linked to
    tags: list[str]
    analysis: Analysis
    # for the latest message of the requester; None when the NLP is not loaded in this process
    suggested_articles: list[SuggestedArticle] | None
    conversation: list[MessageOut]  # every channel's messages and the notes, in order
    audit: list[AuditOut]
    requester_tickets: list[TicketRef]  # the requester's other tickets (those the caller may see)


class Sent(BaseModel):
    outbox_id: int  # the queued message to the requester
    ticket: TicketSummary


# --- action bodies ---------------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(_Body):
    to: str | None = Field(None, max_length=64, description="a username; none: the caller takes it")


class TextBody(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class StatusBody(_Body):
    status: Status
    resolution_code: ResolutionCode | None = None


class PriorityBody(_Body):
    priority: Priority


class ProblemBody(_Body):
    problem: int = Field(gt=0, description="the problem ticket's number")


class MergeBody(_Body):
    into: int = Field(gt=0, description="the number of the ticket this one duplicates")


class ArticleBody(_Body):
    article_id: str = Field(min_length=1, max_length=64)


class IntentBody(_Body):
    intent: str = Field(min_length=1, max_length=64)


class CsatBody(_Body):
    score: int = Field(ge=1, le=5)
