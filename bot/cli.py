"""The ``deskbot`` command: serve, database, tickets, people, groups, reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.composition import ChannelState, channel_states
from bot.settings import ConfigError
from desk import DatabaseUnavailable, DeskError, Role

app = typer.Typer(help="deskbot: the IT service-desk assistant.", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
user_app = typer.Typer(help="Agents and admins.", no_args_is_help=True)
group_app = typer.Typer(help="Groups (teams) and their business hours.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
sla_app = typer.Typer(help="Service levels.", no_args_is_help=True)
from bot.cli_accounts import passwd, token_app  # noqa: E402
from bot.cli_bot import chat, inbox_app, outbox_app, worker  # noqa: E402
from bot.cli_nlp import kb_app, nlp_app  # noqa: E402
from bot.cli_tickets import ticket_app  # noqa: E402
from bot import cli_common as common  # noqa: E402
from bot.cli_common import CliState, err, out  # noqa: E402

app.command()(chat)
app.command()(worker)
user_app.command("passwd")(passwd)
for sub, name in ((inbox_app, "inbox"), (outbox_app, "outbox"), (nlp_app, "nlp"), (kb_app, "kb"), (db_app, "db"), (ticket_app, "ticket"), (user_app, "user"), (group_app, "group"),
                  (report_app, "report"), (sla_app, "sla"), (token_app, "token")):
    app.add_typer(sub, name=name)

# --- serve and the database ------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Listen address (default: DESKBOT_HTTP_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Listen port (default: DESKBOT_HTTP_PORT).")] = None,
) -> None:
    """Start deskbot: the HTTP app and every configured channel."""
    import uvicorn

    from bot.http import create_app
    from bot.kb_pages import kb_router
    from bot.runtime import DrainingServer, run_service
    from desk import migrate
    from nlp import ModelError

    deskbot = common.deskbot()
    settings = deskbot.settings
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    current, head = migrate.current_revision(deskbot.engine), migrate.head_revision(deskbot.engine)
    if current != head:
        raise DeskError(f"the database is at revision {current or 'empty'}, the code needs {head}: run 'deskbot db upgrade'")
    channels = channel_states(settings)
    host, port = host or settings.http_host, port if port is not None else settings.http_port
    routers, adapters = [], {}
    try:
        pipeline = deskbot.pipeline  # loads the active model and the KB index
    except (ModelError, FileNotFoundError) as exc:
        pipeline = None
        channels = [ChannelState(c.name, False, "the bot is off") if c.on else c for c in channels]
        out.print(f"  Bot: off, {exc}")
    else:
        routers.append(kb_router(articles=lambda: deskbot.analyzer.kb.articles))
        webchat = deskbot.webchat()
        routers.append(webchat.router())
        adapters[webchat.name] = webchat
        if settings.email_enabled:
            email = deskbot.email()
            adapters[email.name] = email
        if any(c.name == "Slack" and c.on for c in channels):
            slack = deskbot.slack()
            routers.append(slack.router())
            adapters[slack.name] = slack
        if any(c.name == "Telegram" and c.on for c in channels):
            telegram = deskbot.telegram()
            routers.append(telegram.router())
            adapters[telegram.name] = telegram
        out.print(f"  Bot: on, model {deskbot.analyzer.model_version}, {len(deskbot.analyzer.kb)} KB sections")
    out.print(f"[bold]deskbot[/bold] on http://{host}:{port}  (database: {deskbot.engine.url.render_as_string()})")
    out.print(f"  HTTP app: on, health at http://{host}:{port}/health"
              + (f", knowledge base at http://{host}:{port}/kb" if pipeline is not None else ""))
    for state in channels:
        out.print(f"  {state}")
    analyzer = (lambda: deskbot.analyzer) if pipeline is not None else (lambda: None)
    config = uvicorn.Config(create_app(deskbot=deskbot, channels=channels, routers=routers, analyzer=analyzer),
                            host=host, port=port,
                            log_level=settings.log_level, lifespan="on", timeout_graceful_shutdown=5)
    asyncio.run(run_service(DrainingServer(config), pipeline, adapters))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database to the newest schema and seed an empty desk."""
    from desk import defaults, migrate

    deskbot = common.deskbot()
    migrate.upgrade(deskbot.engine, revision)
    with common.session() as session:
        seeded = defaults.ensure_defaults(
            session=session, timezone=deskbot.settings.timezone, working_hours=deskbot.settings.working_hours
        )
    out.print(f"database {deskbot.engine.url.render_as_string()} at revision {migrate.current_revision(deskbot.engine)}")
    for line in seeded:
        out.print(f"  seeded {line}")


@db_app.command("status")
def db_status() -> None:
    """Show the database's revision and whether migrations are pending."""
    from desk import migrate

    engine = common.deskbot().engine
    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    out.print(f"current: {current or 'empty'}  head: {head}  {'up to date' if current == head else 'run deskbot db upgrade'}")


# --- tickets --------------------------------------------------------------------------------


# --- people and groups ----------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: str,
    email: Annotated[str, typer.Option(help="Work email.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    role: Annotated[Role, typer.Option(help="agent or admin.")] = Role.AGENT,
    group: Annotated[Optional[list[str]], typer.Option(help="A group the user works in (repeatable).")] = None,
) -> None:
    """Add an agent or admin."""
    from desk import people

    with common.session() as session:
        user = people.add_user(session=session, username=username, display_name=name or username, email=email,
                               role=role, groups=group or ())
        out.print(f"added {user.role.value} {user.username} to {', '.join(g.name for g in user.groups) or 'no group'}")


@user_app.command("list")
def user_list() -> None:
    """List agents and admins."""
    from desk import people

    with common.session() as session:
        table = Table("username", "name", "email", "role", "groups", "available")
        for u in people.list_users(session=session):
            table.add_row(u.username, u.display_name, u.email, u.role.value, ", ".join(g.name for g in u.groups),
                          "yes" if u.available and u.active else "no")
        out.print(table)


@group_app.command("add")
def group_add(
    name: str,
    timezone: Annotated[Optional[str], typer.Option(help="IANA time zone (default: DESKBOT_TIMEZONE).")] = None,
    hours: Annotated[Optional[str], typer.Option(help="e.g. 'mon-fri 08:30-12:00,13:00-17:30'.")] = None,
    holiday: Annotated[Optional[list[dt.datetime]], typer.Option(formats=["%Y-%m-%d"], help="A closed date (repeatable).")] = None,
    email: Annotated[Optional[str], typer.Option(help="Where the group is notified.")] = None,
) -> None:
    """Add a group with its business-hours calendar."""
    from desk import people

    settings = common.settings()
    with common.session() as session:
        g = people.add_group(session=session, name=name, timezone=timezone or settings.timezone,
                             working_hours=hours or settings.working_hours, holidays=[d.date() for d in holiday or ()],
                             notice_targets=_notice_targets(slack_channel=None, email=email))
        out.print(f"added group {g.name} ({g.timezone}, {g.working_hours}, {len(g.holidays)} holiday(s))")


@group_app.command("notify")
def group_notify(
    name: str,
    slack_channel: Annotated[Optional[str], typer.Option(help="Slack channel id (C...) for new tickets and SLA alerts.")] = None,
    email: Annotated[Optional[str], typer.Option(help="Address that gets the same notices by mail.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the Slack channel and the address first.")] = False,
) -> None:
    """Where a group hears of its new tickets and SLA alerts (invite the bot to that Slack channel)."""
    from desk import people

    with common.session() as session:
        g = people.set_group_notifications(session=session, name=name, clear=clear,
                                           targets=_notice_targets(slack_channel=slack_channel, email=email))
        targets = people.notice_targets_of(g)
        out.print(f"group {g.name}: Slack channel {targets.get('slack', '-')}, email {targets.get('email', '-')}")


def _notice_targets(*, slack_channel: str | None, email: str | None) -> dict[str, str]:
    """The command line's options as the desk's channel -> address targets (only those given)."""
    from desk import people

    targets: dict[str, str] = {}
    if slack_channel is not None:
        targets["slack"] = slack_channel.strip()
    if email is not None:
        targets["email"] = people.normalise_email(email) or ""
    return targets


@group_app.command("list")
def group_list() -> None:
    """List groups, their calendars and members."""
    from desk import people

    with common.session() as session:
        table = Table("group", "time zone", "hours", "holidays", "notices", "members")
        for g in people.list_groups(session=session):
            targets = people.notice_targets_of(g)
            notices = ", ".join(x for x in (targets.get("slack") and f"Slack {targets['slack']}", targets.get("email"))
                                if x) or "-"
            table.add_row(g.name, g.timezone, g.working_hours, str(len(g.holidays)), notices,
                          ", ".join(m.username for m in g.members) or "-")
        out.print(table)


# --- reports and SLA ----------------------------------------------------------------------------


@report_app.command("kpis")
def report_kpis(
    since: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Tickets created on or after.")] = None,
    until: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Tickets created before.")] = None,
) -> None:
    """Service-desk KPIs with their usual targets."""
    from desk import kpis

    aware = lambda d: d.replace(tzinfo=dt.UTC) if d else None  # noqa: E731
    with common.session() as session:
        k = kpis.compute(session=session, since=aware(since), until=aware(until))
    hours = lambda h: "n/a" if h is None else f"{h:.1f} h"  # noqa: E731
    table = Table("KPI", "value", "usual target", title=f"KPIs over {k.tickets} ticket(s)")
    table.add_row("first-contact resolution", str(k.first_contact_resolution), "70-80 %")
    table.add_row("mean time to resolve (wall clock)", hours(k.mean_time_to_resolve_hours), "down over time")
    table.add_row("mean time to resolve (business hours)", hours(k.mean_business_time_to_resolve_hours), "down over time")
    table.add_row("SLA compliance", str(k.sla_compliance), ">= 95 %")
    table.add_row("self-service rate (confirmed)", str(k.self_service_rate), "30-50 %")
    table.add_row("potential deflection (unconfirmed)", str(k.potential_deflection_rate), "shown apart")
    table.add_row("reopen rate", str(k.reopen_rate), "< 5 %")
    table.add_row("CSAT", f"{'n/a' if k.csat_average is None else f'{k.csat_average:.2f} / 5'}; satisfied {k.csat_satisfied}", ">= 85 %")
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


def main() -> None:
    """Entry point: a known failure is one clear line on stderr, never a traceback."""
    from nlp import ArticleError, ModelError
    from nlp.intent import DataError

    try:
        app(standalone_mode=False)
    except ConfigError as exc:
        err.print(f"deskbot: configuration error: {exc}", markup=False)
        sys.exit(2)
    except (ModelError, DataError, ArticleError, FileNotFoundError) as exc:
        err.print(f"deskbot: {exc}", markup=False)
        sys.exit(1)
    except DatabaseUnavailable as exc:
        err.print(f"deskbot: {exc} (is it reachable, and migrated with 'deskbot db upgrade'?)", markup=False)
        sys.exit(1)
    except DeskError as exc:
        err.print(f"deskbot: {exc}", markup=False)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    finally:
        if CliState.deskbot is not None:
            CliState.deskbot.close()
