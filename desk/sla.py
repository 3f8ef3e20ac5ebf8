"""SLA targets in business hours, and the scan that reports warnings and breaches once (each an ``SlaAlert``
event on the unit of work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desk.business_hours import BusinessCalendar
from desk.domain import ACTIVE_STATUSES, Priority, SlaKind, SlaLevel, SlaState, Status
from desk.events import SlaAlert, record
from desk.models import SlaEvent, SlaPolicy, Ticket
from desk.people import calendar_for

WARNING_SHARE = 0.8


def calendar_of(session: Session, ticket: Ticket) -> BusinessCalendar:
    policy = session.get(SlaPolicy, ticket.priority)
    if policy is not None and policy.around_the_clock:
        return BusinessCalendar.always_open()
    return calendar_for(ticket.group)


def apply_targets(*, session: Session, ticket: Ticket) -> None:
    """(Re)compute the due and warning instants from the priority, the calendar and paused time."""
    policy = session.get(SlaPolicy, ticket.priority)
    if policy is None:
        ticket.first_response_due = ticket.first_response_warn_at = None
        ticket.resolution_due = ticket.resolution_warn_at = None
        return
    calendar = calendar_of(session, ticket)
    paused = dt.timedelta(seconds=ticket.paused_seconds)
    first = dt.timedelta(minutes=policy.first_response_minutes)
    resolution = dt.timedelta(minutes=policy.resolution_minutes)
    ticket.first_response_due = calendar.add(ticket.created_at, first)
    ticket.first_response_warn_at = calendar.add(ticket.created_at, first * WARNING_SHARE)
    ticket.resolution_due = calendar.add(ticket.created_at, resolution + paused)
    ticket.resolution_warn_at = calendar.add(ticket.created_at, resolution * WARNING_SHARE + paused)


def list_policies(*, session: Session) -> Sequence[SlaPolicy]:
    return session.scalars(select(SlaPolicy).order_by(SlaPolicy.priority)).all()


def set_policy(
    *,
    session: Session,
    priority: Priority,
    first_response_minutes: int,
    resolution_minutes: int,
    around_the_clock: bool = False,
) -> SlaPolicy:
    policy = session.get(SlaPolicy, priority) or SlaPolicy(priority=priority)
    policy.first_response_minutes = first_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.around_the_clock = around_the_clock
    session.add(policy)
    session.flush()
    return policy


def scan(*, session: Session, now: dt.datetime) -> list[SlaAlert]:
    """Warnings (80 % of the target used) and breaches not reported before; each comes once."""
    candidates = session.scalars(
        select(Ticket)
        .where(Ticket.status.in_(ACTIVE_STATUSES))
        .where(
            or_(
                and_(Ticket.first_response_at.is_(None), Ticket.first_response_warn_at <= now),
                # Pending time is paused: its resolution clock does not run.
                and_(Ticket.status != Status.PENDING, Ticket.resolution_warn_at <= now),
            )
        )
        .order_by(Ticket.id)
    ).all()
    alerts: list[SlaAlert] = []
    for ticket in candidates:
        reported = {
            (e.kind, e.level)
            for e in session.scalars(select(SlaEvent).where(SlaEvent.ticket_id == ticket.id))
        }
        for kind, level, due in _crossed(ticket, now):
            if (kind, level) in reported:
                continue
            try:
                with session.begin_nested():
                    session.add(SlaEvent(ticket_id=ticket.id, kind=kind, level=level, due=due, at=now))
            except IntegrityError:
                continue  # another monitor reported it first
            ticket.sla_state = (
                SlaState.BREACHED
                if level is SlaLevel.BREACH or ticket.sla_state is SlaState.BREACHED
                else SlaState.WARNING
            )
            alert = SlaAlert(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                kind=kind,
                level=level,
                due=due,
                group=ticket.group.name if ticket.group else None,
                assignee=ticket.assignee.username if ticket.assignee else None,
                at=now,
            )
            record(session, alert)
            alerts.append(alert)
    session.flush()
    return alerts


def _crossed(ticket: Ticket, now: dt.datetime) -> list[tuple[SlaKind, SlaLevel, dt.datetime]]:
    crossed = []
    clocks = []
    if ticket.first_response_at is None:
        clocks.append((SlaKind.FIRST_RESPONSE, ticket.first_response_warn_at, ticket.first_response_due))
    if ticket.status is not Status.PENDING:
        clocks.append((SlaKind.RESOLUTION, ticket.resolution_warn_at, ticket.resolution_due))
    for kind, warn_at, due in clocks:
        if warn_at is None or due is None:
            continue
        if now >= warn_at:
            crossed.append((kind, SlaLevel.WARNING, due))
        if now >= due:
            crossed.append((kind, SlaLevel.BREACH, due))
    return crossed
