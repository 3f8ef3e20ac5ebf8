"""Finding tickets: the filtered, paginated list of the API and console, and who may see which ticket.

Visibility lives here and only here: an admin sees every ticket; an agent sees the tickets of their groups,
the triage queue (the group the out-of-scope intent routes to, and unrouted tickets) and the tickets
assigned to them. A ticket a viewer may not see is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, CompoundSelect, exists, false, or_, select, true, union
from sqlalchemy.orm import Session, joinedload

from desk.domain import DeskError, NotFound, Priority, SlaState, Status, TicketType
from desk.models import Group, Message, Requester, Ticket, User, group_members
from desk.people import normalise_email
from desk.routing import rule_for
from desk.taxonomy import OUT_OF_SCOPE, packaged_taxonomy

MAX_PAGE = 200
# The lists' order; the index ix_tickets_created (created_at, id) serves it, and the cursor's range.
NEWEST_FIRST = (Ticket.created_at.desc(), Ticket.id.desc())
_SHOWN_WITH_A_TICKET = (joinedload(Ticket.group), joinedload(Ticket.assignee), joinedload(Ticket.requester))


class InvalidFilter(DeskError):
    """A filter naming something the desk does not have (a group, an agent)."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: an admin (``sees_everything``) or an agent (``user_id``)."""

    user_id: int
    sees_everything: bool = False


@dataclass(frozen=True)
class TicketFilter:
    """What a list asks for; empty tuples and None mean "any"."""

    statuses: tuple[Status, ...] = ()
    types: tuple[TicketType, ...] = ()
    priorities: tuple[Priority, ...] = ()
    sla_states: tuple[SlaState, ...] = ()
    groups: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    assignee: str | None = None
    unassigned: bool = False  # only tickets nobody is assigned
    requester_email: str | None = None
    created_from: dt.datetime | None = None  # inclusive
    created_to: dt.datetime | None = None  # exclusive
    text: str | None = None  # in the subject or any message of the ticket


@dataclass(frozen=True)
class Position:
    """Where a page ends in the list's order (newest first): the last ticket's creation time and id."""

    created_at: dt.datetime
    ticket_id: int


@dataclass(frozen=True)
class Page:
    tickets: Sequence[Ticket]
    next: Position | None  # None: this was the last page


def visible_clause(*, session: Session, viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_everything:
        return true()
    own_groups = select(group_members.c.group_id).where(group_members.c.user_id == viewer.user_id)
    triage = triage_group_id(session=session)
    return or_(Ticket.group_id.in_(own_groups), Ticket.group_id.is_(None),
               Ticket.group_id == triage if triage is not None else false(),
               Ticket.assignee_id == viewer.user_id)


def triage_group_id(*, session: Session) -> int | None:
    rule = rule_for(session=session, intent=OUT_OF_SCOPE)
    if rule is not None:
        return rule.group_id
    return session.scalar(select(Group.id).where(Group.name == packaged_taxonomy().triage.group))


def visible_ticket(*, session: Session, number: int, viewer: Viewer, for_update: bool = False) -> Ticket:
    """The ticket, or ``NotFound`` with the very message a missing ticket gets; one query, with its group,
    assignee and requester (every answer shows them)."""
    query = select(Ticket).where(Ticket.number == number, visible_clause(session=session, viewer=viewer))
    # FOR UPDATE may not reach the nullable side of the outer joins: a locked ticket loads those on use.
    query = query.with_for_update(of=Ticket) if for_update else query.options(*_SHOWN_WITH_A_TICKET)
    ticket = session.scalar(query)
    if ticket is None:
        raise NotFound(f"no ticket #{number}")
    return ticket


def search_tickets(*, session: Session, viewer: Viewer, wanted: TicketFilter, after: Position | None = None,
                   limit: int = 50) -> Page:
    """One page of the tickets ``viewer`` may see that match ``wanted``, newest first, after ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    conditions = [visible_clause(session=session, viewer=viewer), *_conditions(session=session, wanted=wanted)]
    if after is not None:
        # The first term is a range of the index on (created_at, id); the second splits equal instants by id.
        conditions += [Ticket.created_at <= after.created_at,
                       or_(Ticket.created_at < after.created_at, Ticket.id < after.ticket_id)]
    text = (wanted.text or "").strip()
    if text:
        conditions = [Ticket.id.in_(_newest_matching(conditions, text, limit + 1))]
    found = session.scalars(select(Ticket).where(*conditions).options(*_SHOWN_WITH_A_TICKET)
                            .order_by(*NEWEST_FIRST).limit(limit + 1)).all()
    page = found[:limit]
    more = len(found) > limit
    return Page(page, Position(page[-1].created_at, page[-1].id) if more else None)


def _conditions(*, session: Session, wanted: TicketFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, values in ((Ticket.status, wanted.statuses), (Ticket.type, wanted.types),
                           (Ticket.priority, wanted.priorities), (Ticket.sla_state, wanted.sla_states),
                           (Ticket.channel, wanted.channels)):
        if values:
            conditions.append(column.in_(values))
    if wanted.groups:
        conditions.append(Ticket.group_id.in_(_group_ids(session=session, names=wanted.groups)))
    if wanted.assignee is not None:
        user_id = session.scalar(select(User.id).where(User.username == wanted.assignee))
        if user_id is None:
            raise InvalidFilter(f"no agent or admin with username {wanted.assignee!r}")
        conditions.append(Ticket.assignee_id == user_id)
    if wanted.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    if wanted.requester_email is not None:
        conditions.append(Ticket.requester_id.in_(
            select(Requester.id).where(Requester.email == normalise_email(wanted.requester_email))))
    if wanted.created_from is not None:
        conditions.append(Ticket.created_at >= wanted.created_from)
    if wanted.created_to is not None:
        conditions.append(Ticket.created_at < wanted.created_to)
    return conditions


def _group_ids(*, session: Session, names: Sequence[str]) -> list[int]:
    found = dict(session.execute(select(Group.name, Group.id).where(Group.name.in_(names))).all())
    unknown = [name for name in names if name not in found]
    if unknown:
        known = ", ".join(session.scalars(select(Group.name).order_by(Group.name)))
        raise InvalidFilter(f"no group named {unknown[0]!r} (groups: {known})")
    return list(found.values())


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) for "contains ``text``": its ``%`` and ``_`` are plain characters."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _newest_matching(conditions: list[ColumnElement[bool]], text: str, enough: int) -> CompoundSelect:
    """The ids of the newest ``enough`` tickets meeting ``conditions`` whose subject contains ``text`` (any case),
    and of the newest ``enough`` whose messages do. Two queries, because one ``subject OR EXISTS (messages)`` can
    only be answered by scanning: each part alone the database answers either from its index (the trigram indexes
    on PostgreSQL, for rare words) or by walking the newest tickets until it has enough (for common ones)."""
    pattern = contains_pattern(text)
    in_subject = Ticket.subject.ilike(pattern, escape="\\")
    in_messages = exists().where(Message.ticket_id == Ticket.id, Message.text.ilike(pattern, escape="\\"))
    newest = [select(Ticket.id).where(*conditions, match).order_by(*NEWEST_FIRST).limit(enough).subquery()
              for match in (in_subject, in_messages)]
    return union(*(select(part.c.id) for part in newest))


def tickets_of_requester(*, session: Session, requester_id: int, viewer: Viewer, besides: int | None = None,
                         limit: int = 20) -> Sequence[Ticket]:
    """The requester's tickets (but ``besides``) that ``viewer`` may see, newest first."""
    query = (select(Ticket).where(Ticket.requester_id == requester_id, visible_clause(session=session, viewer=viewer))
             .order_by(*NEWEST_FIRST).limit(limit))
    if besides is not None:
        query = query.where(Ticket.id != besides)
    return session.scalars(query).all()


def author_usernames(*, session: Session, messages: Sequence[Message]) -> dict[int, str]:
    """The username of each agent who wrote one of ``messages``, by user id."""
    ids = {m.author_user_id for m in messages if m.author_user_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def message_with_key(*, session: Session, key: str) -> Message | None:
    """The message stored with idempotency key ``key``."""
    return session.scalar(select(Message).where(Message.idempotency_key == key))
