"""Finding requesters: the search of the API and the console, and one requester with their identities.

A requester is a person, not ticket data: every agent may find one (to see who wrote, from where). Their
tickets come through ``desk.ticket_queries``' visibility, so an agent learns nothing of another group's tickets,
not even how many there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from desk.domain import NotFound
from desk.models import Identity, Requester, Ticket
from desk.ticket_queries import MAX_PAGE, Viewer, contains_pattern, visible_clause


@dataclass(frozen=True)
class RequesterPosition:
    """Where a page ends in the list's order (by name, any case): the last requester's name and id."""

    name: str  # in lower case as the database lowers it (SQLite: ASCII only), the order's key
    requester_id: int


@dataclass(frozen=True)
class RequesterPage:
    requesters: Sequence[Requester]
    next: RequesterPosition | None  # None: this was the last page


def search_requesters(*, session: Session, text: str | None = None, after: RequesterPosition | None = None,
                      limit: int = 50) -> RequesterPage:
    """One page of the requesters whose name or email, or one of whose channel identities (its external id,
    name or email), contains ``text`` (any case); all of them without ``text``; by name, then id."""
    limit = max(1, min(limit, MAX_PAGE))
    name = func.lower(Requester.display_name)
    query = (select(Requester, name).options(selectinload(Requester.identities))
             .order_by(name, Requester.id).limit(limit + 1))
    if text and text.strip():
        pattern = contains_pattern(text.strip())
        matches = [column.ilike(pattern, escape="\\") for column in (Identity.external_id, Identity.display_name,
                                                                     Identity.email)]
        query = query.where(or_(Requester.display_name.ilike(pattern, escape="\\"),
                                Requester.email.ilike(pattern, escape="\\"),
                                exists().where(Identity.requester_id == Requester.id, or_(*matches))))
    if after is not None:
        query = query.where(or_(name > after.name, and_(name == after.name, Requester.id > after.requester_id)))
    found = session.execute(query).all()
    page = found[:limit]
    more = len(found) > limit
    return RequesterPage([requester for requester, _ in page],
                         RequesterPosition(page[-1][1], page[-1][0].id) if more else None)


def get_requester(*, session: Session, requester_id: int) -> Requester:
    requester = session.scalar(select(Requester).where(Requester.id == requester_id)
                               .options(selectinload(Requester.identities)))
    if requester is None:
        raise NotFound(f"no requester {requester_id}")
    return requester


def visible_ticket_count(*, session: Session, requester_id: int, viewer: Viewer) -> int:
    """How many of the requester's tickets ``viewer`` may see."""
    return session.scalar(select(func.count(Ticket.id)).where(
        Ticket.requester_id == requester_id, visible_clause(session=session, viewer=viewer))) or 0
