"""``deskbot report ...`` and ``deskbot sla ...``: the KPIs and the service levels."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import out

report_app = typer.Typer(help="Reports.", no_args_is_help=True)
sla_app = typer.Typer(help="Service levels.", no_args_is_help=True)


@report_app.command("kpis")
def report_kpis(
    since: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Tickets created on or after.")] = None,
    until: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Tickets created before.")] = None,
) -> None:
    """Service-desk KPIs with their usual targets."""
    from rich.text import Text

    from bot.kpi_report import Standing, kpi_rows
    from desk import kpis

    aware = lambda d: d.replace(tzinfo=dt.UTC) if d else None  # noqa: E731
    with common.session() as session:
        k = kpis.compute(session=session, since=aware(since), until=aware(until))
    table = Table("KPI", "value", "usual target", title=f"KPIs over {k.tickets} ticket(s)")
    for row in kpi_rows(k):
        table.add_row(row.kpi.label, Text(row.value, style="red" if row.standing is Standing.MISSED else ""), row.target)
    out.print(table)
    backlog = Table("group", "priority", "open tickets", title="backlog")
    for (group, priority), n in sorted(k.backlog.items()):
        backlog.add_row(group, priority.value, str(n))
    out.print(backlog if k.backlog else "backlog: empty")


@sla_app.command("scan")
def sla_scan() -> None:
    """Report SLA warnings and breaches not reported before."""
    from desk import sla

    with common.session() as session:
        alerts = sla.scan(session=session, now=dt.datetime.now(dt.UTC))
        for a in alerts:
            out.print(f"#{a.ticket_number} {a.kind.value} {a.level.value} (due {common.when(a.due)}, group {a.group}, assignee {a.assignee or '-'})")
        if not alerts:
            out.print("no new SLA warnings or breaches")
