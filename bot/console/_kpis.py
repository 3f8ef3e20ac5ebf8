"""The console's dashboard, ``/console/kpis``: the KPIs of a period next to their targets, the backlog, and charts
of the period day by day.

The figures are the API's (``bot.web.kpis.period_kpis`` and ``daily_kpis``, over ``desk.kpis``) and their words
and targets are ``deskbot report kpis``' (``bot.kpi_report``), so the page, the API and the CLI agree.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from markupsafe import Markup
from pydantic import ValidationError

from bot.console._charts import Bars, Rate, rate_lines, stacked_bars
from bot.console._pages import ConsoleRoute, Nav, console_principal, render
from bot.console._views import channel_label
from bot.kpi_report import Kpi, KpiRow, kpi_rows
from bot.web.auth import Principal
from bot.web.errors import ApiError
from bot.web.kpis import Days, daily_kpis, period_kpis
from desk import Priority, UnitOfWork
from desk.kpis import Day, Kpis

QUICK_PICKS = (7, 30, 90)  # "the last N days", today included
DEFAULT_DAYS = 30
TOP_INTENTS = 8
OTHER = "other"
# Categorical colours, readable on white and told apart from each other; channels keep the console's colours.
PALETTE = ("#0b5cad", "#e8710a", "#1a7f37", "#c62828", "#7a4fb3", "#8c564b", "#d6409f", "#17becf", "#bcbd22",
           "#676d78")
CHANNEL_COLOURS = {"email": "#7a4fb3", "slack": "#2d8a6e", "webchat": "#0b5cad", "telegram": "#1e88c7"}
OTHER_COLOUR = "#9aa1ad"
Signed = Annotated[Principal, Depends(console_principal)]


@dataclass(frozen=True)
class QuickPick:
    days: int
    since: dt.date
    until: dt.date


@dataclass(frozen=True)
class BacklogRow:
    group: str
    by_priority: tuple[int, ...]  # in ``Priority``'s order
    total: int


@dataclass(frozen=True)
class KpiLine:
    """A row of the dashboard's table: this period's figure and the one of the period just before."""

    row: KpiRow
    earlier: KpiRow | None  # None when the period just before would start before the calendar does


@dataclass(frozen=True)
class Charts:
    by_channel: Markup
    by_intent: Markup
    self_service: Markup


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def quick_picks(today: dt.date) -> list[QuickPick]:
    until = today + dt.timedelta(days=1)
    return [QuickPick(days=n, since=until - dt.timedelta(days=n), until=until) for n in QUICK_PICKS]


def asked_period(request: Request, today: dt.date) -> tuple[str, str]:
    """The period's two dates as asked (a missing one: the last ``DEFAULT_DAYS`` days up to today)."""
    since, until = request.query_params.get("since", ""), request.query_params.get("until", "")
    if not until:
        until = (today + dt.timedelta(days=1)).isoformat()
    if not since:
        try:
            since = (dt.date.fromisoformat(until) - dt.timedelta(days=DEFAULT_DAYS)).isoformat()
        except ValueError:
            since = ""  # until is wrong: the period's check says so
    return since, until


def earlier_period(period: Days) -> Days | None:
    """The period just before ``period``, as long (the mean times' "down over time" is against it)."""
    try:
        return Days(since=period.since - (period.until - period.since), until=period.since)
    except OverflowError:
        return None


def backlog_rows(k: Kpis) -> list[BacklogRow]:
    groups = sorted({group for group, _ in k.backlog})
    rows = []
    for group in groups:
        counts = tuple(k.backlog.get((group, p), 0) for p in Priority)
        rows.append(BacklogRow(group=group, by_priority=counts, total=sum(counts)))
    return rows


def _colours(names: Sequence[str], fixed: dict[str, str]) -> list[str]:
    spare = iter(c for c in PALETTE if c not in fixed.values())
    return [fixed.get(name) or (OTHER_COLOUR if name == OTHER else next(spare, OTHER_COLOUR)) for name in names]


def charts(days: Sequence[Day]) -> Charts:
    dates = [d.day for d in days]
    channels = Counter[str]()
    intents = Counter[str]()
    for d in days:
        channels.update(d.by_channel)
        intents.update(d.by_intent)
    channel_names = [name for name, _ in sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))]
    ranked = sorted(intents.items(), key=lambda kv: (-kv[1], kv[0]))
    top = [name for name, _ in ranked[:TOP_INTENTS]]
    rest = {name for name, _ in ranked[TOP_INTENTS:]}
    by_channel = [Bars(name=channel_label(name), colour=colour, values=[d.by_channel.get(name, 0) for d in days])
                  for name, colour in zip(channel_names, _colours(channel_names, CHANNEL_COLOURS), strict=True)]
    intent_layers = [Bars(name=name, colour=colour, values=[d.by_intent.get(name, 0) for d in days])
                     for name, colour in zip(top, _colours(top, {}), strict=True)]
    if rest:
        intent_layers.append(Bars(name=OTHER, colour=OTHER_COLOUR,
                                  values=[sum(n for name, n in d.by_intent.items() if name in rest) for d in days]))
    tickets = [d.tickets for d in days]
    return Charts(
        by_channel=stacked_bars(title="Tickets per day by channel", days=dates, layers=by_channel, y_label="tickets"),
        by_intent=stacked_bars(title=f"Tickets per day by intent (top {TOP_INTENTS}, the rest as {OTHER!r})",
                               days=dates, layers=intent_layers, y_label="tickets"),
        self_service=rate_lines(title="Self-service rate per day", days=dates, y_label="of the day's tickets", rates=[
            Rate(name="self-service (confirmed)", colour=PALETTE[2], numerators=[d.self_service for d in days],
                 denominators=tickets),
            Rate(name="potential deflection (unconfirmed)", colour=PALETTE[1],
                 numerators=[d.potential_deflection for d in days], denominators=tickets)]))


def kpis_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(console_principal)])

    @router.get("/kpis")
    def dashboard(request: Request, principal: Signed) -> Response:
        today = _today()
        since_text, until_text = asked_period(request, today)
        page = {"principal": principal, "nav": Nav.DASHBOARD, "picks": quick_picks(today), "since": since_text,
                "until": until_text, "priorities": list(Priority)}
        try:
            period = Days.model_validate({"since": since_text, "until": until_text})
        except ValidationError as exc:
            wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:2])
            return render(request, "kpis_dashboard.html", **page, error=f"No figures ({wrong}).", status=422)
        try:
            days = daily_kpis(uow=uow, since=period.since, until=period.until)
            k = period_kpis(uow=uow, since=period.since, until=period.until)
            earlier = earlier_period(period)
            before = period_kpis(uow=uow, since=earlier.since, until=earlier.until) if earlier else None
        except ApiError as exc:
            return render(request, "kpis_dashboard.html", **page, error=f"No figures ({exc.detail}).",
                          status=exc.status_code)
        earlier_rows = kpi_rows(before) if before else [None] * len(Kpi)
        lines = [KpiLine(row=row, earlier=then)
                 for row, then in zip(kpi_rows(k, earlier=before), earlier_rows, strict=True)]
        return render(request, "kpis_dashboard.html", **page, error="", period=period, k=k, earlier=earlier,
                      lines=lines, backlog=backlog_rows(k), charts=charts(days) if k.tickets else None,
                      length=(period.until - period.since).days)

    return router
