"""``/api/v1/kpis``: the service desk's KPIs over a period, and the same figures day by day (``desk.kpis``).

A period is [since, until) in UTC days (``YYYY-MM-DD``), the tickets created in it, as ``deskbot report kpis
--since --until`` counts them; a day of the series is the UTC date a ticket was created on. Rates come with
their numerator and denominator, so the days' figures add up to the period's.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.web.errors import ApiError, ErrorCode
from desk import Priority, UnitOfWork, kpis

_SINCE = "the first UTC day, inclusive (YYYY-MM-DD)"
_UNTIL = "the UTC day after the last one: exclusive (YYYY-MM-DD)"


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: dt.date | None = Field(None, description=_SINCE + "; none: from the first ticket")
    until: dt.date | None = Field(None, description=_UNTIL + "; none: up to now")


class Days(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: dt.date = Field(description=_SINCE)
    until: dt.date = Field(description=_UNTIL + f"; at most {kpis.MAX_DAYS} days after since")


class RatioOut(BaseModel):
    numerator: int
    denominator: int
    value: float | None  # None when the denominator is 0

    @classmethod
    def of(cls, ratio: kpis.Ratio) -> RatioOut:
        return cls(numerator=ratio.numerator, denominator=ratio.denominator, value=ratio.value)


class Figures(BaseModel):
    """The KPIs of a set of tickets (DESIGN.md's definitions)."""

    tickets: int
    resolved: int  # the tickets the mean times are over
    first_contact_resolution: RatioOut  # of all tickets
    mean_time_to_resolve_hours: float | None  # wall clock
    mean_business_time_to_resolve_hours: float | None  # business hours of the group's calendar
    sla_compliance: RatioOut  # resolved within the resolution target, of those resolved with one
    self_service_rate: RatioOut  # confirmed by the requester, of all tickets
    potential_deflection_rate: RatioOut  # a KB answer left unanswered, of all tickets: shown apart
    reopen_rate: RatioOut  # of the resolved or closed
    csat_average: float | None  # 1 to 5
    csat_satisfied: RatioOut  # answers of 4 or 5, of all answers

    @staticmethod
    def of(counts: kpis.Counts) -> dict[str, object]:
        ratio = RatioOut.of
        return {"tickets": counts.tickets, "resolved": counts.resolved,
                "first_contact_resolution": ratio(counts.first_contact_resolution),
                "mean_time_to_resolve_hours": counts.mean_time_to_resolve_hours,
                "mean_business_time_to_resolve_hours": counts.mean_business_time_to_resolve_hours,
                "sla_compliance": ratio(counts.sla_compliance), "self_service_rate": ratio(counts.self_service_rate),
                "potential_deflection_rate": ratio(counts.potential_deflection_rate),
                "reopen_rate": ratio(counts.reopen_rate), "csat_average": counts.csat_average,
                "csat_satisfied": ratio(counts.csat_satisfied)}


class BacklogOut(BaseModel):
    group: str
    priority: Priority
    tickets: int


class KpisOut(Figures):
    since: dt.date | None
    until: dt.date | None
    backlog: list[BacklogOut]  # the open tickets now, by group and priority, whatever the period
    redirected: int  # messages sent to another department in the period (no ticket, so not in the figures)


class DayOut(Figures):
    day: dt.date
    by_channel: dict[str, int]  # tickets by the channel they came in on
    by_intent: dict[str, int]  # by the intent an agent confirmed, else the one the bot read


class DailyOut(BaseModel):
    since: dt.date
    until: dt.date
    no_intent: str = kpis.NO_INTENT  # the by_intent key of the tickets without one
    days: list[DayOut]  # every day of [since, until), quiet ones too


def _checked(*, since: dt.date | None, until: dt.date | None, max_days: int | None = None) -> None:
    try:
        kpis.check_period(since=since, until=until, max_days=max_days)
    except kpis.InvalidPeriod as exc:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"query.until: {exc}") from exc


def period_kpis(*, uow: UnitOfWork, since: dt.date | None, until: dt.date | None) -> kpis.Kpis:
    """The KPIs of the tickets created in [since, until) (UTC days) and the current backlog; a 422 ``ApiError``
    for a period that ends before it starts. The API's and the console's."""
    _checked(since=since, until=until)
    with uow() as session:
        return kpis.compute(session=session, since=kpis.start_of(since) if since else None,
                            until=kpis.start_of(until) if until else None)


def daily_kpis(*, uow: UnitOfWork, since: dt.date, until: dt.date) -> list[kpis.Day]:
    """The KPIs of each UTC day in [since, until); a 422 ``ApiError`` for a bad or too long period."""
    _checked(since=since, until=until, max_days=kpis.MAX_DAYS)
    with uow() as session:
        return kpis.daily(session=session, since=since, until=until)


def kpis_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/kpis", tags=["kpis"])

    @router.get("", response_model=KpisOut)
    def period(query: Annotated[Period, Query()]) -> KpisOut:
        """The KPIs of the tickets created in [since, until), and the current backlog."""
        k = period_kpis(uow=uow, since=query.since, until=query.until)
        return KpisOut(**Figures.of(k), since=query.since, until=query.until,
                       backlog=[BacklogOut(group=group, priority=priority, tickets=n)
                                for (group, priority), n in sorted(k.backlog.items())], redirected=k.redirected)

    @router.get("/daily", response_model=DailyOut)
    def daily(query: Annotated[Days, Query()]) -> DailyOut:
        """The KPIs of each UTC day in [since, until), of the tickets created that day, with their volume by
        channel and by intent; computed in SQL, the days add up to ``GET /kpis`` of the same period."""
        days = daily_kpis(uow=uow, since=query.since, until=query.until)
        return DailyOut(since=query.since, until=query.until,
                        days=[DayOut(**Figures.of(d), day=d.day, by_channel=d.by_channel, by_intent=d.by_intent)
                              for d in days])

    return router
