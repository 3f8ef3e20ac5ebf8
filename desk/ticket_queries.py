"""Finding tickets: the filtered, paginated list of the API and console, and who may see which ticket.

Visibility lives here and only here: an admin sees every ticket; an agent sees the tickets of their groups,
the triage queue (the group the out-of-scope intent routes to, and unrouted tickets) and the tickets
assigned to them. A ticket a viewer may not see is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, selectinload

from desk.domain import DeskError, NotFound, Priority, SlaState, Status, TicketType
from desk.models import Group, Message, Requester, Ticket, User, group_members
from desk.people import normalise_email
from desk.routing import rule_for
from desk.taxonomy import OUT_OF_SCOPE, packaged_taxonomy
from desk.tickets import get_ticket

MAX_PAGE = 200


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
    """The ticket, or ``NotFound`` with the very message a missing ticket gets."""
    ticket = get_ticket(session=session, number=number, for_update=for_update)
    allowed = session.scalar(select(Ticket.id).where(Ticket.id == ticket.id,
                                                     visible_clause(session=session, viewer=viewer)))
    if allowed is None:
        raise NotFound(f"no ticket #{number}")
    return ticket


def search_tickets(*, session: Session, viewer: Viewer, wanted: TicketFilter, after: Position | None = None,
                   limit: int = 50) -> Page:
    """One page of the tickets ``viewer`` may see that match ``wanted``, newest first, after ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (select(Ticket)
             .where(visible_clause(session=session, viewer=viewer), *_conditions(session=session, wanted=wanted))
             .options(selectinload(Ticket.group), selectinload(Ticket.assignee), selectinload(Ticket.requester))
             .order_by(Ticket.created_at.desc(), Ticket.id.desc())
             .limit(limit + 1))
    if after is not None:
        query = query.where(or_(Ticket.created_at < after.created_at,
                                and_(Ticket.created_at == after.created_at, Ticket.id < after.ticket_id)))
    found = session.scalars(query).all()
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
    if wanted.requester_email is not None:
        conditions.append(Ticket.requester_id.in_(
            select(Requester.id).where(Requester.email == normalise_email(wanted.requester_email))))
    if wanted.created_from is not None:
        conditions.append(Ticket.created_at >= wanted.created_from)
    if wanted.created_to is not None:
        conditions.append(Ticket.created_at < wanted.created_to)
    if wanted.text and wanted.text.strip():
        conditions.append(text_matches(wanted.text.strip()))
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


def text_matches(text: str) -> ColumnElement[bool]:
    """The ticket's subject or one of its messages contains ``text`` (any case). A plain LIKE for now: the one
    place a full-text index would replace."""
    pattern = contains_pattern(text)
    in_messages = exists().where(Message.ticket_id == Ticket.id, Message.text.ilike(pattern, escape="\\"))
    return or_(Ticket.subject.ilike(pattern, escape="\\"), in_messages)


def tickets_of_requester(*, session: Session, requester_id: int, viewer: Viewer, besides: int | None = None,
                         limit: int = 20) -> Sequence[Ticket]:
    """The requester's tickets (but ``besides``) that ``viewer`` may see, newest first."""
    query = (select(Ticket).where(Ticket.requester_id == requester_id, visible_clause(session=session, viewer=viewer))
             .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit))
    if besides is not None:
        query = query.where(Ticket.id != besides)
    return session.scalars(query).all()


def author_usernames(*, session: Session, messages: Sequence[Message]) -> dict[int, str]:
    """The username of each agent who wrote one of ``messages``, by user id."""
    ids = {m.author_user_id for m in messages if m.author_user_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
