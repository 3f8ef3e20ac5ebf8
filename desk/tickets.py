"""Tickets: open, route, assign, change status, thread messages, audit. The one way in."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, joinedload

from desk import routing, sla
from desk._base import ConflictInserts
from desk._changes import audit, change
from desk.db import inserted
from desk.domain import (
    ACTIVE_STATUSES,
    AuthorKind,
    DeskError,
    Direction,
    DuplicateKey,
    InvalidTransition,
    Level,
    NotFound,
    Priority,
    ResolutionCode,
    SlaState,
    Status,
    TicketType,
    check_transition,
    priority_for,
)
from desk.events import (StatusChanged, TicketAssigned, TicketEscalated, TicketOpened, TicketReopened, TicketReplied,
                         TicketResolved, record)
from desk.models import (
    Attachment,
    AuditEntry,
    Blob,
    Conversation,
    Counter,
    Group,
    Message,
    Ticket,
    User,
    ticket_tags,
    utcnow,
)
from desk.people import get_group, get_user
from desk.taxonomy import packaged_taxonomy

TICKET_NUMBER = "ticket_number"
FIRST_TICKET_NUMBER = 1000  # also seeded by migration 0001


class AttachmentTooLarge(DeskError):
    pass


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    content: bytes


def next_ticket_number(session: Session) -> int:
    """A fresh human number; the counter row's lock keeps concurrent openers apart."""
    value = session.scalar(
        update(Counter).where(Counter.name == TICKET_NUMBER).values(value=Counter.value + 1).returning(Counter.value)
    )
    if value is None:
        session.execute(insert(Counter).values(name=TICKET_NUMBER, value=FIRST_TICKET_NUMBER))
        value = FIRST_TICKET_NUMBER
    return int(value)


_GROUP_NAMED = select(Group).where(Group.name == bindparam("name")).options(joinedload(Group.holidays))  # see _RULE_FOR


def open_ticket(
    *,
    session: Session,
    requester_id: int,
    subject: str,
    channel: str,
    actor: str,
    description: str = "",
    ticket_type: TicketType | None = None,
    intent: str | None = None,
    impact: Level = Level.LOW,
    urgency: Level | None = None,
    urgency_raise: int = 0,
    group: str | None = None,
    tags: Iterable[str] = (),
    auto_assign: bool = True,
    now: dt.datetime | None = None,
) -> Ticket:
    """Open a ticket, routed by intent unless a group is named, prioritised, with SLA and assignee. Without
    ``urgency``, the intent's routed urgency ``urgency_raise`` steps more urgent (at most high)."""
    now = now or utcnow()
    subject = " ".join(subject.split())
    if not subject:
        raise DeskError("a ticket needs a subject")
    rule = routing.rule_for(session=session, intent=intent)
    if group is not None:
        target: Group | None = get_group(session=session, name=group)
    elif rule is not None:
        target = rule.group
    else:
        target = session.scalar(_GROUP_NAMED, {"name": packaged_taxonomy().triage.group})
    ticket_type = ticket_type or (rule.ticket_type if rule else TicketType.INCIDENT)
    if urgency is None:
        urgency = Level(max(int(Level.HIGH), (rule.urgency if rule else int(Level.MEDIUM)) - urgency_raise))
    urgency = Level(urgency)
    impact = Level(impact)
    ticket = Ticket(
        number=next_ticket_number(session),
        type=ticket_type,
        status=Status.NEW,
        impact=int(impact),
        urgency=int(urgency),
        priority=priority_for(impact, urgency),
        intent=intent,
        group=target,
        requester_id=requester_id,
        channel=channel,
        subject=subject[:300],
        description=description,
        created_at=now,
        updated_at=now,
        paused_seconds=0,
    )
    sla.apply_targets(session=session, ticket=ticket)  # before the INSERT, which then carries them
    session.add(ticket)
    session.flush()
    audit(session, ticket, actor, "created", None, f"{ticket.type.value} {ticket.priority.value}", now)
    record(session, TicketOpened(ticket.id, ticket.number, actor, now))
    _write_tags(session, ticket, [], _tag_set(tags), actor, now)  # a new ticket has none yet
    if auto_assign and target is not None:
        agent = routing.least_loaded_agent(session=session, group=target)
        if agent is not None:
            _assign(session, ticket, agent, actor, now)
    session.flush()
    return ticket


def get_ticket_by_id(*, session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


_TICKET_BY_NUMBER = select(Ticket).where(Ticket.number == bindparam("number"))  # built once (see desk._base)
_TICKET_BY_NUMBER_FOR_UPDATE = _TICKET_BY_NUMBER.with_for_update()


def get_ticket(*, session: Session, number: int, for_update: bool = False) -> Ticket:
    # The worker opens a ticket and goes on with it (a KB answer's ticket waits on the requester): no read back.
    ticket = next((t for t in inserted(session, Ticket) if t.number == number), None) or session.scalar(
        _TICKET_BY_NUMBER_FOR_UPDATE if for_update else _TICKET_BY_NUMBER, {"number": number})
    if ticket is None:
        raise NotFound(f"no ticket #{number}")
    return ticket


def list_tickets(
    *,
    session: Session,
    statuses: Iterable[Status] | None = None,
    group: str | None = None,
    assignee: str | None = None,
    requester_id: int | None = None,
    limit: int = 100,
) -> Sequence[Ticket]:
    query = select(Ticket).order_by(Ticket.number.desc()).limit(limit)
    if statuses is not None:
        query = query.where(Ticket.status.in_(list(statuses)))
    if group is not None:
        query = query.where(Ticket.group_id == get_group(session=session, name=group).id)
    if assignee is not None:
        query = query.where(Ticket.assignee_id == get_user(session=session, username=assignee).id)
    if requester_id is not None:
        query = query.where(Ticket.requester_id == requester_id)
    return session.scalars(query).all()


def open_tickets_of(*, session: Session, requester_id: int) -> Sequence[Ticket]:
    return list_tickets(session=session, statuses=ACTIVE_STATUSES, requester_id=requester_id)


def _assign(session: Session, ticket: Ticket, agent: User | None, actor: str, now: dt.datetime) -> None:
    if ticket.assignee is not agent:
        record(session, TicketAssigned(ticket.id, ticket.number, agent.username if agent else None, actor, now))
    change(session, ticket, actor, now, assignee=agent)
    if agent is not None:
        agent.last_assigned_at = now
        if ticket.status is Status.NEW:
            _move(session, ticket, Status.OPEN, actor, now)


def assign(
    *,
    session: Session,
    number: int,
    actor: str,
    username: str | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Assign to ``username``, or to the least-loaded available agent of the ticket's group."""
    now = now or utcnow()
    ticket = get_ticket(session=session, number=number, for_update=True)
    if not ticket.status.is_active:
        raise DeskError(f"ticket #{number} is {ticket.status.value}; only active tickets can be assigned")
    if username is not None:
        agent: User | None = get_user(session=session, username=username)
        if agent is not None and not agent.active:
            raise DeskError(f"{username} is not an active agent")
    else:
        if ticket.group is None:
            raise DeskError(f"ticket #{number} has no group to pick an agent from")
        agent = routing.least_loaded_agent(session=session, group=ticket.group)
        if agent is None:
            raise DeskError(f"group {ticket.group.name!r} has no available agent")
    _assign(session, ticket, agent, actor, now)
    session.flush()
    return ticket


def _move(session: Session, ticket: Ticket, target: Status, actor: str, now: dt.datetime) -> None:
    check_transition(ticket.status, target)
    if ticket.status is Status.PENDING and ticket.pending_since is not None:
        paused = sla.calendar_of(session, ticket).between(ticket.pending_since, now)
        ticket.paused_seconds += int(paused.total_seconds())
        ticket.pending_since = None
        sla.apply_targets(session=session, ticket=ticket)
    if target is Status.PENDING:
        ticket.pending_since = now
    record(session, StatusChanged(ticket.id, ticket.number, ticket.status, target, actor, now))
    change(session, ticket, actor, now, status=target)


def change_status(
    *,
    session: Session,
    number: int,
    status: Status,
    actor: str,
    resolution_code: ResolutionCode | None = None,
    reopen_window: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Move a ticket along the transition table of ``desk.domain``; an invalid move raises.

    Reopening a resolved ticket needs ``reopen_window``: the caller's setting (DESKBOT_REOPEN_WINDOW_DAYS), so
    that its default lives in one place."""
    now = now or utcnow()
    ticket = get_ticket(session=session, number=number, for_update=True)
    current = ticket.status
    check_transition(current, status)
    if status is Status.RESOLVED or (status is Status.CLOSED and current is not Status.RESOLVED):
        if resolution_code is None:
            raise DeskError(f"resolving or closing ticket #{number} needs a resolution code")
    if current is Status.RESOLVED and status is Status.OPEN:
        assert ticket.resolved_at is not None
        if reopen_window is None:
            raise ValueError(f"reopening ticket #{number} needs the reopen window")
        if now - ticket.resolved_at > reopen_window:
            raise InvalidTransition(
                f"ticket #{number} was resolved on {ticket.resolved_at:%Y-%m-%d}, outside the "
                f"{reopen_window.days}-day reopen window; open a new ticket instead"
            )
        _move(session, ticket, status, actor, now)
        change(
            session, ticket, actor, now,
            reopen_count=ticket.reopen_count + 1, resolved_at=None, resolution_code=None,
            resolution_seconds=None, resolution_business_seconds=None,
            sla_state=SlaState.BREACHED if ticket.resolution_due and now > ticket.resolution_due else SlaState.OK,
        )
        record(session, TicketReopened(ticket.id, ticket.number, actor, now))
        session.flush()
        return ticket

    _move(session, ticket, status, actor, now)
    if status is Status.RESOLVED or (status is Status.CLOSED and ticket.resolved_at is None):
        calendar = sla.calendar_of(session, ticket)
        business = calendar.between(ticket.created_at, now).total_seconds() - ticket.paused_seconds
        met = ticket.resolution_due is None or now <= ticket.resolution_due
        change(
            session, ticket, actor, now,
            resolved_at=now, resolution_code=resolution_code,
            resolution_seconds=int((now - ticket.created_at).total_seconds()),
            resolution_business_seconds=max(0, int(business)),
            sla_state=SlaState.MET if met else SlaState.MISSED,
        )
        record(session, TicketResolved(ticket.id, ticket.number, resolution_code, actor, now))
    if status is Status.CLOSED:
        change(session, ticket, actor, now, closed_at=now)
    session.flush()
    return ticket


def resolve(
    *,
    session: Session,
    number: int,
    actor: str,
    resolution_code: ResolutionCode = ResolutionCode.AGENT,
    now: dt.datetime | None = None,
) -> Ticket:
    return change_status(
        session=session, number=number, status=Status.RESOLVED, actor=actor,
        resolution_code=resolution_code, now=now,
    )


def ensure_assignee(*, session: Session, number: int, actor: str, now: dt.datetime) -> Ticket:
    """An active ticket nobody has goes to the least-loaded available agent of its group, when there is one."""
    ticket = get_ticket(session=session, number=number, for_update=True)
    if ticket.assignee is None and ticket.group is not None and ticket.status.is_active:
        agent = routing.least_loaded_agent(session=session, group=ticket.group)
        if agent is not None:
            _assign(session, ticket, agent, actor, now)
            session.flush()
    return ticket


def escalate(*, session: Session, number: int, actor: str, now: dt.datetime) -> Ticket:
    """The requester says the bot's answer did not help: a pending ticket opens again and the group's people get
    it (assigned when nobody has it yet)."""
    ticket = get_ticket(session=session, number=number, for_update=True)
    if not ticket.status.is_active:
        raise DeskError(f"ticket #{number} is {ticket.status.value}; only an active ticket can be escalated")
    if ticket.status is Status.PENDING:
        _move(session, ticket, Status.OPEN, actor, now)
    ensure_assignee(session=session, number=number, actor=actor, now=now)
    record(session, TicketEscalated(ticket.id, ticket.number, actor, now))
    session.flush()
    return ticket


def set_tags(
    *, session: Session, ticket: Ticket, tags: Iterable[str], actor: str, now: dt.datetime | None = None
) -> None:
    _write_tags(session, ticket, tags_of(session=session, ticket=ticket), _tag_set(tags), actor, now or utcnow())


def _tag_set(tags: Iterable[str]) -> list[str]:
    return sorted({t.strip().lower() for t in tags if t.strip()})


def _write_tags(session: Session, ticket: Ticket, current: list[str], wanted: list[str], actor: str,
                now: dt.datetime) -> None:
    if wanted == current:
        return
    if current:
        session.execute(delete(ticket_tags).where(ticket_tags.c.ticket_id == ticket.id))
    if wanted:
        session.execute(insert(ticket_tags), [{"ticket_id": ticket.id, "tag": t} for t in wanted])
    audit(session, ticket, actor, "tags", ",".join(current) or None, ",".join(wanted) or None, now)


def tags_of(*, session: Session, ticket: Ticket) -> list[str]:
    return list(session.scalars(select(ticket_tags.c.tag).where(ticket_tags.c.ticket_id == ticket.id).order_by(ticket_tags.c.tag)))


def set_priority(*, session: Session, number: int, priority: Priority, actor: str,
                 now: dt.datetime | None = None) -> Ticket:
    """An agent's priority over the matrix's: the SLA targets follow the new priority."""
    now = now or utcnow()
    ticket = get_ticket(session=session, number=number, for_update=True)
    if not ticket.status.is_active:
        raise DeskError(f"ticket #{number} is {ticket.status.value}; only an active ticket's priority can change")
    change(session, ticket, actor, now, priority=priority)
    sla.apply_targets(session=session, ticket=ticket)
    session.flush()
    return ticket


def record_first_response(*, session: Session, ticket: Ticket, actor: str, now: dt.datetime) -> None:
    """The requester heard from the desk (an agent's answer, or the bot's KB article): the first-response SLA
    is met now, once."""
    if ticket.first_response_at is None:
        change(session, ticket, actor, now, first_response_at=now)


def confirm_intent(
    *, session: Session, number: int, intent: str, actor: str, now: dt.datetime | None = None
) -> Ticket:
    """An agent's label of what the ticket really was about: training data for the classifier."""
    ticket = get_ticket(session=session, number=number, for_update=True)
    change(session, ticket, actor, now or utcnow(), confirmed_intent=intent)
    session.flush()
    return ticket


def record_csat(*, session: Session, number: int, score: int, actor: str, now: dt.datetime | None = None) -> Ticket:
    if not 1 <= score <= 5:
        raise DeskError(f"a satisfaction score is 1 to 5, not {score}")
    ticket = get_ticket(session=session, number=number, for_update=True)
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        raise DeskError(f"ticket #{number} is not resolved yet")
    change(session, ticket, actor, now or utcnow(), csat_score=score)
    session.flush()
    return ticket


_STORE_MESSAGE = ConflictInserts(lambda insert: insert(Message).values({
    column: bindparam(f"m_{column}") for column in ("idempotency_key", "conversation_id", "ticket_id", "direction",
                                                    "author_kind", "author_identity_id", "author_user_id", "channel",
                                                    "text", "created_at")})
    .on_conflict_do_nothing(index_elements=[Message.idempotency_key]).returning(Message))


def add_message(
    *,
    session: Session,
    idempotency_key: str,
    direction: Direction,
    author_kind: AuthorKind,
    channel: str,
    text: str,
    ticket: Ticket | None = None,
    conversation: Conversation | None = None,
    author_identity_id: int | None = None,
    author_user_id: int | None = None,
    attachments: Sequence[NewAttachment] = (),
    max_attachment_bytes: int | None = None,
    now: dt.datetime | None = None,
) -> Message:
    """Add a message to a ticket's thread. A key seen before raises ``DuplicateKey`` and changes nothing.

    ``attachments`` need ``max_attachment_bytes``: the caller's setting (DESKBOT_MAX_ATTACHMENT_BYTES)."""
    now = now or utcnow()
    for item in attachments:
        if max_attachment_bytes is None:
            raise ValueError("attachments need max_attachment_bytes")
        if len(item.content) > max_attachment_bytes:
            raise AttachmentTooLarge(
                f"attachment {item.filename!r} is {len(item.content):,} bytes; the limit is {max_attachment_bytes:,}"
            )
    # One statement: a key stored before (by anyone, even at this moment) stores nothing and says so.
    message = session.scalars(_STORE_MESSAGE.for_(session), {
        "m_idempotency_key": idempotency_key, "m_conversation_id": conversation.id if conversation else None,
        "m_ticket_id": ticket.id if ticket else None, "m_direction": direction, "m_author_kind": author_kind,
        "m_author_identity_id": author_identity_id, "m_author_user_id": author_user_id, "m_channel": channel,
        "m_text": text, "m_created_at": now}).first()
    if message is None:
        raise DuplicateKey(f"message {idempotency_key!r} was already stored")
    digests = [hashlib.sha256(item.content).hexdigest() for item in attachments]
    for item, digest in zip(attachments, digests):
        if session.get(Blob, digest) is None:
            session.add(Blob(sha256=digest, size=len(item.content), content=item.content))
    if attachments:
        session.flush()  # the blobs before the rows that cite them (no relationship tells the flush their order)
    session.add_all(Attachment(message_id=message.id, filename=item.filename[:255], content_type=item.content_type[:255],
                               size=len(item.content), sha256=digest) for item, digest in zip(attachments, digests))
    if ticket is not None and direction is Direction.OUTBOUND:
        record(session, TicketReplied(ticket.id, ticket.number, author_kind, author_user_id, now))
    if (
        ticket is not None
        and direction is Direction.OUTBOUND
        and author_kind is AuthorKind.AGENT
        and ticket.first_response_at is None
    ):
        # The audit names agents as everywhere else ("user:alice"), never by their row id.
        agent = session.get(User, author_user_id) if author_user_id is not None else None
        change(session, ticket, f"user:{agent.username}" if agent else AuthorKind.AGENT.value, now,
                first_response_at=now)
    return message


def thread(*, session: Session, ticket: Ticket) -> Sequence[Message]:
    return session.scalars(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)).all()


def audit_trail(*, session: Session, ticket: Ticket) -> Sequence[AuditEntry]:
    return session.scalars(select(AuditEntry).where(AuditEntry.ticket_id == ticket.id).order_by(AuditEntry.id)).all()


def attachment_content(*, session: Session, attachment: Attachment) -> bytes:
    blob = session.get(Blob, attachment.sha256)
    if blob is None:
        raise NotFound(f"attachment content {attachment.sha256} is missing")
    return blob.content


def confirmed_intent_examples(*, session: Session) -> list[tuple[str, str]]:
    """(text, intent) pairs an agent confirmed: the requester's first message, else subject and description."""
    first_inbound = (
        select(Message.text)
        .where(Message.ticket_id == Ticket.id, Message.direction == Direction.INBOUND)
        .order_by(Message.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(first_inbound, Ticket.subject, Ticket.description, Ticket.confirmed_intent)
        .where(Ticket.confirmed_intent.is_not(None))
        .order_by(Ticket.id)
    ).all()
    return [(text or f"{subject}. {description}".strip(), intent) for text, subject, description, intent in rows]
