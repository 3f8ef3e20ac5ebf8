"""How a ticket row changes: every field through ``change``, each change an audit entry (who, what, old, new,
when). Private to the desk's ticket modules (``desk.tickets``, ``desk.relations``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from desk.domain import ResolutionCode, SlaState, Status, TicketType
from desk.models import AuditEntry, Group, Ticket, User


def audit(session: Session, ticket: Ticket, actor: str, field: str, old: object, new: object, now: dt.datetime) -> None:
    session.add(AuditEntry(ticket_id=ticket.id, actor=actor, field=field, old=text_of(old), new=text_of(new), at=now))


def text_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (Status, TicketType, ResolutionCode, SlaState)):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, User):
        return value.username
    if isinstance(value, Group):
        return value.name
    return str(value)


def change(session: Session, ticket: Ticket, actor: str, now: dt.datetime, **changes: object) -> None:
    for field, new in changes.items():
        old = getattr(ticket, field)
        if old == new:
            continue
        setattr(ticket, field, new)
        audit(session, ticket, actor, field, old, new, now)
    ticket.updated_at = now
