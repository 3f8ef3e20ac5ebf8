"""Service-desk KPIs, computed in SQL from the tickets (definitions: ITIL practice, DESIGN.md).

A ticket counts in the period it was created in: ``compute`` takes the tickets created in [since, until);
``daily`` splits the very same counts by day, a day being the UTC calendar date of the ticket's creation
(whatever the time zone of the database session or of the ticket's group). Both sum one set of SQL
expressions (``_counts``) and derive the rates and means from the sums, so the days of a period add up to the
period exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from desk.conversations import REDIRECTED
from desk.domain import ACTIVE_STATUSES, AuthorKind, DeskError, Direction, Priority, ResolutionCode, Status
from desk.models import Group, Message, Ticket

MAX_DAYS = 1096  # three years of daily figures: a chart, not an export
NO_INTENT = "(no intent)"  # the tickets nobody (bot or agent) gave an intent
NO_GROUP = "(no group)"


class InvalidPeriod(DeskError):
    """A period that ends before it starts, or a daily series longer than ``MAX_DAYS``."""


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


@dataclass(frozen=True, kw_only=True)
class Counts:
    """The additive counts behind the KPIs of a set of tickets; each KPI is derived from them."""

    tickets: int
    first_contact: int  # resolved, never reopened, and the requester wrote at most once
    resolved: int
    resolution_seconds: int  # summed over the resolved tickets, wall clock
    resolution_business_seconds: int  # the same in business time of the group's calendar
    sla_met: int  # resolved by the resolution target
    sla_measured: int  # resolved, with a resolution target
    self_service: int  # confirmed by the requester
    potential_deflection: int  # a KB answer left unanswered: shown apart
    reopened: int  # among the ended ones
    ended: int  # resolved or closed
    csat_answers: int
    csat_points: int  # the scores (1 to 5) summed
    satisfied: int  # answers of 4 or 5

    @property
    def first_contact_resolution(self) -> Ratio:
        return Ratio(self.first_contact, self.tickets)

    @property
    def mean_time_to_resolve_hours(self) -> float | None:
        return self.resolution_seconds / self.resolved / 3600 if self.resolved else None

    @property
    def mean_business_time_to_resolve_hours(self) -> float | None:
        return self.resolution_business_seconds / self.resolved / 3600 if self.resolved else None

    @property
    def sla_compliance(self) -> Ratio:
        return Ratio(self.sla_met, self.sla_measured)

    @property
    def self_service_rate(self) -> Ratio:
        return Ratio(self.self_service, self.tickets)

    @property
    def potential_deflection_rate(self) -> Ratio:
        return Ratio(self.potential_deflection, self.tickets)

    @property
    def reopen_rate(self) -> Ratio:
        return Ratio(self.reopened, self.ended)

    @property
    def csat_average(self) -> float | None:
        return self.csat_points / self.csat_answers if self.csat_answers else None

    @property
    def csat_satisfied(self) -> Ratio:
        return Ratio(self.satisfied, self.csat_answers)


_COUNT_NAMES = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True, kw_only=True)
class Kpis(Counts):
    since: dt.datetime | None
    until: dt.datetime | None
    backlog: dict[tuple[str, Priority], int]  # open tickets now, by group and priority, whatever the period
    redirected: int = 0  # messages the bot sent to another department in the period: no ticket, so apart


@dataclass(frozen=True, kw_only=True)
class Day(Counts):
    day: dt.date  # the UTC date the tickets were created on
    by_channel: dict[str, int]  # tickets by the channel they came in on
    by_intent: dict[str, int]  # by the intent an agent confirmed, else the one the bot read, else NO_INTENT


def _counts() -> dict[str, ColumnElement[Any]]:
    """One SQL aggregate per field of ``Counts``: the KPIs' definitions, in one place."""
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
    measured = and_(resolved, Ticket.resolution_due.is_not(None))
    ended = Ticket.status.in_((Status.RESOLVED, Status.CLOSED))

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def total(column: ColumnElement[Any]) -> ColumnElement[int]:
        return func.coalesce(func.sum(column), 0)

    counts = {
        "tickets": func.count(Ticket.id),
        "first_contact": count_if(and_(resolved, Ticket.reopen_count == 0, inbound <= 1)),
        "resolved": count_if(resolved),
        "resolution_seconds": total(Ticket.resolution_seconds),  # set exactly when resolved_at is
        "resolution_business_seconds": total(Ticket.resolution_business_seconds),
        "sla_met": count_if(and_(measured, Ticket.resolved_at <= Ticket.resolution_due)),
        "sla_measured": count_if(measured),
        "self_service": count_if(Ticket.resolution_code == ResolutionCode.SELF_SERVICE),
        "potential_deflection": count_if(Ticket.resolution_code == ResolutionCode.POTENTIAL_DEFLECTION),
        "reopened": count_if(and_(ended, Ticket.reopen_count > 0)),
        "ended": count_if(ended),
        "csat_answers": count_if(Ticket.csat_score.is_not(None)),
        "csat_points": total(Ticket.csat_score),
        "satisfied": count_if(Ticket.csat_score >= 4),
    }
    assert set(counts) == set(_COUNT_NAMES)
    return counts


def _window(query: Select, since: dt.datetime | None, until: dt.datetime | None) -> Select:
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    return query


def _read(row: Any) -> dict[str, int]:
    return {name: int(row._mapping[name] or 0) for name in _COUNT_NAMES}


def compute(*, session: Session, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Kpis:
    """KPIs of the tickets created in [since, until); the backlog is always the current one."""
    row = session.execute(_window(select(*(c.label(n) for n, c in _counts().items())), since, until)).one()
    backlog_rows = session.execute(
        select(func.coalesce(Group.name, NO_GROUP), Ticket.priority, func.count(Ticket.id))
        .outerjoin(Group, Group.id == Ticket.group_id)
        .where(Ticket.status.in_(ACTIVE_STATUSES))
        .group_by(Group.name, Ticket.priority)
        .order_by(Group.name, Ticket.priority)
    ).all()
    redirects = select(func.count(Message.id)).where(
        Message.ticket_id.is_(None), Message.direction == Direction.NOTE, Message.author_kind == AuthorKind.BOT,
        Message.text.startswith(REDIRECTED, autoescape=True))
    if since is not None:
        redirects = redirects.where(Message.created_at >= since)
    if until is not None:
        redirects = redirects.where(Message.created_at < until)
    return Kpis(since=since, until=until, **_read(row),
                backlog={(name, Priority(p)): int(n) for name, p, n in backlog_rows},
                redirected=int(session.scalar(redirects) or 0))


# --- by day ------------------------------------------------------------------------------------------------------


class _utc_date(FunctionElement[str]):  # noqa: N801 - a SQL function, named like one
    """A timestamp's UTC calendar date as ``YYYY-MM-DD`` text, alike on SQLite and PostgreSQL."""

    type = String()
    name = "utc_date"
    inherit_cache = True


@compiles(_utc_date)
def _utc_date_sqlite(element: _utc_date, compiler: Any, **kw: Any) -> str:
    # SQLite holds the naive UTC instant (desk._base.UTCDateTime): its date() is the UTC date.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(_utc_date, "postgresql")
def _utc_date_postgresql(element: _utc_date, compiler: Any, **kw: Any) -> str:
    # A timestamptz's date follows the session's TimeZone setting unless it is converted first.
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def start_of(day: dt.date) -> dt.datetime:
    """The instant a UTC day begins."""
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def check_period(*, since: dt.date | None, until: dt.date | None, max_days: int | None = None) -> None:
    """Refuse a period [since, until) that is empty or (with ``max_days``) longer than that."""
    if since is not None and until is not None and until <= since:
        raise InvalidPeriod(f"until ({until}) must come after since ({since}): the period is [since, until)")
    if max_days is not None and since is not None and until is not None and (until - since).days > max_days:
        raise InvalidPeriod(f"a daily series covers at most {max_days} days, not {(until - since).days}")


def daily(*, session: Session, since: dt.date, until: dt.date) -> list[Day]:
    """The KPIs of each UTC day in [since, until), of the tickets created that day, days without any
    included; the counts of the days add up to ``compute`` over ``start_of(since)``, ``start_of(until)``."""
    check_period(since=since, until=until, max_days=MAX_DAYS)
    day = _utc_date(Ticket.created_at)
    window = (start_of(since), start_of(until))
    counts = {dt.date.fromisoformat(row.day): _read(row) for row in session.execute(
        _window(select(day.label("day"), *(c.label(n) for n, c in _counts().items())), *window).group_by(day))}
    by_channel: dict[dt.date, dict[str, int]] = {}
    for on, channel, n in session.execute(
            _window(select(day, Ticket.channel, func.count(Ticket.id)), *window).group_by(day, Ticket.channel)):
        by_channel.setdefault(dt.date.fromisoformat(on), {})[channel] = int(n)
    by_intent: dict[dt.date, dict[str, int]] = {}
    intent = func.coalesce(Ticket.confirmed_intent, Ticket.intent)  # no literal: GROUP BY must repeat it exactly
    for on, name, n in session.execute(
            _window(select(day, intent, func.count(Ticket.id)), *window).group_by(day, intent)):
        by_intent.setdefault(dt.date.fromisoformat(on), {})[name or NO_INTENT] = int(n)
    empty = dict.fromkeys(_COUNT_NAMES, 0)
    days = (since + dt.timedelta(days=i) for i in range((until - since).days))
    return [Day(day=d, **counts.get(d, empty), by_channel=dict(sorted(by_channel.get(d, {}).items())),
                by_intent=dict(sorted(by_intent.get(d, {}).items()))) for d in days]
