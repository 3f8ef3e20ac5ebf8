"""Service-desk KPIs, computed in SQL from the tickets (definitions: ITIL practice, DESIGN.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from desk.domain import ACTIVE_STATUSES, AuthorKind, Direction, Priority, ResolutionCode, Status
from desk.models import Group, Message, Ticket

@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def __str__(self) -> str:
        v = self.value
        return "n/a" if v is None else f"{100 * v:.1f} % ({self.numerator}/{self.denominator})"


@dataclass(frozen=True)
class Kpis:
    since: dt.datetime | None
    until: dt.datetime | None
    tickets: int
    first_contact_resolution: Ratio
    mean_time_to_resolve_hours: float | None
    mean_business_time_to_resolve_hours: float | None
    sla_compliance: Ratio
    self_service_rate: Ratio  # confirmed by the requester
    potential_deflection_rate: Ratio  # KB answer left unanswered: shown apart
    reopen_rate: Ratio
    csat_average: float | None
    csat_satisfied: Ratio  # score 4 or 5
    backlog: dict[tuple[str, Priority], int]


def _window(query: Select, since: dt.datetime | None, until: dt.datetime | None) -> Select:
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    return query


def compute(*, session: Session, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Kpis:
    """KPIs of the tickets created in [since, until); the backlog is always the current one."""
    inbound = (
        select(func.count(Message.id))
        .where(
            Message.ticket_id == Ticket.id,
            Message.direction == Direction.INBOUND,
            Message.author_kind == AuthorKind.REQUESTER,
        )
        .scalar_subquery()
    )
    resolved = Ticket.resolved_at.is_not(None)
    first_contact = and_(resolved, Ticket.reopen_count == 0, inbound <= 1)
    within_sla = and_(resolved, Ticket.resolution_due.is_not(None), Ticket.resolved_at <= Ticket.resolution_due)
    ended = Ticket.status.in_((Status.RESOLVED, Status.CLOSED))

    def count_if(condition):  # noqa: ANN001, ANN202 - a SQL expression in, a SQL expression out
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        _window(
            select(
                func.count(Ticket.id),
                count_if(first_contact),
                count_if(resolved),
                func.avg(Ticket.resolution_seconds),
                func.avg(Ticket.resolution_business_seconds),
                count_if(within_sla),
                count_if(and_(resolved, Ticket.resolution_due.is_not(None))),
                count_if(Ticket.resolution_code == ResolutionCode.SELF_SERVICE),
                count_if(Ticket.resolution_code == ResolutionCode.POTENTIAL_DEFLECTION),
                count_if(and_(ended, Ticket.reopen_count > 0)),
                count_if(ended),
                func.avg(Ticket.csat_score),
                count_if(Ticket.csat_score >= 4),
                count_if(Ticket.csat_score.is_not(None)),
            ),
            since,
            until,
        )
    ).one()
    (total, fcr, n_resolved, mttr, mttr_business, sla_met, sla_total, self_service, potential,
     reopened, n_ended, csat_avg, satisfied, answered) = (v if v is not None else 0 for v in row)

    backlog_rows = session.execute(
        select(func.coalesce(Group.name, "(no group)"), Ticket.priority, func.count(Ticket.id))
        .outerjoin(Group, Group.id == Ticket.group_id)
        .where(Ticket.status.in_(ACTIVE_STATUSES))
        .group_by(Group.name, Ticket.priority)
        .order_by(Group.name, Ticket.priority)
    ).all()

    return Kpis(
        since=since,
        until=until,
        tickets=int(total),
        first_contact_resolution=Ratio(int(fcr), int(total)),
        mean_time_to_resolve_hours=float(mttr) / 3600 if n_resolved else None,
        mean_business_time_to_resolve_hours=float(mttr_business) / 3600 if n_resolved else None,
        sla_compliance=Ratio(int(sla_met), int(sla_total)),
        self_service_rate=Ratio(int(self_service), int(total)),
        potential_deflection_rate=Ratio(int(potential), int(total)),
        reopen_rate=Ratio(int(reopened), int(n_ended)),
        csat_average=float(csat_avg) if answered else None,
        csat_satisfied=Ratio(int(satisfied), int(answered)),
        backlog={(name, Priority(p)): int(n) for name, p, n in backlog_rows},
    )
