"""How tickets relate: incidents linked to the problem behind them (a major incident opens that problem), a
duplicate merged into its original."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from desk.domain import ACTIVE_STATUSES, DeskError, Level, ResolutionCode, Status, TicketType
from desk.events import MajorIncident, record
from desk.models import AgentThread, Conversation, Message, Ticket, utcnow
from desk._changes import audit, change
from desk.tickets import change_status, get_ticket, open_ticket


def link_to_problem(
    *, session: Session, number: int, problem_number: int, actor: str, now: dt.datetime | None = None
) -> Ticket:
    ticket = get_ticket(session=session, number=number, for_update=True)
    problem = get_ticket(session=session, number=problem_number)
    if problem.type is not TicketType.PROBLEM:
        raise DeskError(f"#{problem_number} is a {problem.type.value}, not a problem")
    if problem.id == ticket.id:
        raise DeskError("a ticket cannot be its own problem")
    change(session, ticket, actor, now or utcnow(), parent_id=problem.id)
    session.flush()
    return ticket


def open_major_incident(*, session: Session, incidents: Sequence[Ticket | IncidentRow], intent: str,
                        requester_id: int, actor: str, now: dt.datetime) -> Ticket:
    """Several people reported one cause: a high-impact, high-urgency problem opens (for ``requester_id``, whose
    report made it one) and links their incidents."""
    if not incidents:
        raise DeskError("a major incident links the incidents reported")
    reports = sorted(incidents, key=lambda t: t.id)
    problem = open_ticket(session=session, requester_id=requester_id, channel="bot", actor=actor,
                          subject=f"Major incident: {intent} reported by {len(reports)} people",
                          ticket_type=TicketType.PROBLEM, intent=intent, impact=Level.HIGH, urgency=Level.HIGH, now=now)
    for incident in reports:
        link_to_problem(session=session, number=incident.number, problem_number=problem.number, actor=actor, now=now)
    record(session, MajorIncident(problem.id, problem.number, tuple(t.number for t in reports), actor, now))
    return problem


def merge(*, session: Session, number: int, into: int, actor: str, now: dt.datetime | None = None) -> Ticket:
    """``number`` was a duplicate of ``into``: its messages, conversations and linked incidents move to ``into``,
    and it is resolved with code ``duplicate``. Returns the ticket merged into."""
    now = now or utcnow()
    if number == into:
        raise DeskError("a ticket cannot be merged into itself")
    duplicate = get_ticket(session=session, number=number, for_update=True)
    target = get_ticket(session=session, number=into, for_update=True)
    if not target.status.is_active:
        raise DeskError(f"ticket #{into} is {target.status.value}; merge into an active ticket")
    if duplicate.status in (Status.RESOLVED, Status.CLOSED):
        raise DeskError(f"ticket #{number} is {duplicate.status.value} already")
    session.flush()
    moved = session.execute(update(Message).where(Message.ticket_id == duplicate.id).values(ticket_id=target.id)).rowcount
    session.execute(update(Conversation).where(Conversation.ticket_id == duplicate.id).values(ticket_id=target.id))
    session.execute(update(Ticket).where(Ticket.parent_id == duplicate.id).values(parent_id=target.id))
    session.execute(update(AgentThread).where(AgentThread.ticket_id == duplicate.id).values(ticket_id=target.id))
    audit(session, target, actor, "merged", None, f"#{number} ({moved} messages)", now)
    audit(session, duplicate, actor, "merged_into", None, f"#{into}", now)
    change_status(session=session, number=number, status=Status.RESOLVED, actor=actor,
                  resolution_code=ResolutionCode.DUPLICATE, now=now)
    target.updated_at = now
    session.flush()
    return target


class IncidentRow(NamedTuple):
    """What the major-incident check reads of an incident: its columns, not the ORM row (a busy half hour holds
    hundreds of incidents, read again for every new one)."""

    id: int
    number: int
    requester_id: int
    intent: str | None
    created_at: dt.datetime
    subject: str
    description: str


_INCIDENT_COLUMNS = (Ticket.id, Ticket.number, Ticket.requester_id, Ticket.intent, Ticket.created_at, Ticket.subject,
                     Ticket.description)

# the major-incident check's, built once (see desk._base)
_ACTIVE_PROBLEM_IDS = select(Ticket.id).where(
    Ticket.type == TicketType.PROBLEM, Ticket.status.in_(ACTIVE_STATUSES),
    Ticket.id.in_(select(Ticket.parent_id).where(Ticket.parent_id.is_not(None))))
_ACTIVE_PROBLEMS = select(Ticket).where(Ticket.id.in_(_ACTIVE_PROBLEM_IDS)).order_by(Ticket.id.desc())
_RANKED_REPORTS = select(Ticket.id, func.row_number().over(partition_by=Ticket.parent_id, order_by=Ticket.id.desc())
                         .label("latest")).where(Ticket.parent_id.in_(_ACTIVE_PROBLEM_IDS)).subquery()
_LATEST_REPORTS = (select(Ticket.parent_id, *_INCIDENT_COLUMNS).join(_RANKED_REPORTS, _RANKED_REPORTS.c.id == Ticket.id)
                   .where(_RANKED_REPORTS.c.latest <= bindparam("limit")).order_by(Ticket.id.desc()))
_RECENT_UNLINKED = select(*_INCIDENT_COLUMNS).where(
    Ticket.type == TicketType.INCIDENT, Ticket.created_at >= bindparam("since"), Ticket.status.in_(ACTIVE_STATUSES),
    Ticket.parent_id.is_(None)).order_by(Ticket.id)


def active_problems(*, session: Session, reports: int) -> list[tuple[Ticket, list[IncidentRow]]]:
    """Active problems that link at least one incident, newest first, each with the ``reports`` incidents linked
    to it last, newest first: two statements however many problems are active."""
    problems = session.scalars(_ACTIVE_PROBLEMS).all()
    if not problems:
        return []
    latest: dict[int, list[IncidentRow]] = defaultdict(list)
    for parent_id, *columns in session.execute(_LATEST_REPORTS, {"limit": reports}):
        latest[parent_id].append(IncidentRow(*columns))
    return [(problem, latest[problem.id]) for problem in problems]


def recent_unlinked_incidents(*, session: Session, since: dt.datetime) -> list[IncidentRow]:
    """Active incidents opened since ``since`` that no problem links yet, oldest first."""
    return [IncidentRow(*row) for row in session.execute(_RECENT_UNLINKED, {"since": since})]
