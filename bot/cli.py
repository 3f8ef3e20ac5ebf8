"""The ``deskbot`` command: serve, database, tickets, people, groups, reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING
from contextlib import contextmanager
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.composition import ChannelState, Deskbot, channel_states
from bot.settings import ConfigError, Settings, load_settings
from desk import DatabaseUnavailable, DeskError, Level, Priority, ResolutionCode, Role, Status, TicketType

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot import agents

app = typer.Typer(help="deskbot: the IT service-desk assistant.", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
ticket_app = typer.Typer(help="Tickets.", no_args_is_help=True)
user_app = typer.Typer(help="Agents and admins.", no_args_is_help=True)
group_app = typer.Typer(help="Groups (teams) and their business hours.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
sla_app = typer.Typer(help="Service levels.", no_args_is_help=True)
from bot.cli_accounts import passwd, token_app  # noqa: E402
from bot.cli_bot import chat, inbox_app, outbox_app, worker  # noqa: E402
from bot.cli_nlp import kb_app, nlp_app  # noqa: E402

app.command()(chat)
app.command()(worker)
user_app.command("passwd")(passwd)
for sub, name in ((inbox_app, "inbox"), (outbox_app, "outbox"), (nlp_app, "nlp"), (kb_app, "kb"), (db_app, "db"), (ticket_app, "ticket"), (user_app, "user"), (group_app, "group"),
                  (report_app, "report"), (sla_app, "sla"), (token_app, "token")):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)


class CliState:
    deskbot: Deskbot | None = None


def _settings() -> Settings:
    if CliState.deskbot is None:
        CliState.deskbot = Deskbot(load_settings())
    return CliState.deskbot.settings


def _deskbot() -> Deskbot:
    _settings()
    assert CliState.deskbot is not None
    return CliState.deskbot


@contextmanager
def _session() -> Iterator["Session"]:
    with _deskbot().uow() as session:
        yield session


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


AS_AGENT = typer.Option("--as", help="The desk user who acts (recorded in the audit trail; default: this "
                                     "machine's user, as cli:NAME).")


def _acting(session: "Session", username: str | None) -> "agents.Actor":
    from bot import agents
    from desk import people

    if username is None:
        return agents.Actor(_actor())
    return agents.Actor.of(people.get_user(session=session, username=username))


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


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

    deskbot = _deskbot()
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

    deskbot = _deskbot()
    migrate.upgrade(deskbot.engine, revision)
    with _session() as session:
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

    engine = _deskbot().engine
    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    out.print(f"current: {current or 'empty'}  head: {head}  {'up to date' if current == head else 'run deskbot db upgrade'}")


# --- tickets --------------------------------------------------------------------------------


@ticket_app.command("list")
def ticket_list(
    status: Annotated[Optional[list[Status]], typer.Option(help="Only these statuses (repeatable).")] = None,
    group: Annotated[Optional[str], typer.Option(help="Only this group.")] = None,
    assignee: Annotated[Optional[str], typer.Option(help="Only this agent's tickets.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved and closed tickets.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
) -> None:
    """List tickets, newest first (active ones unless --all or --status)."""
    from desk import tickets
    from desk.domain import ACTIVE_STATUSES

    statuses = status or (None if all_ else ACTIVE_STATUSES)
    with _session() as session:
        rows = tickets.list_tickets(session=session, statuses=statuses, group=group, assignee=assignee, limit=limit)
        table = Table("#", "type", "status", "prio", "group", "assignee", "requester", "subject", "resolution due", "SLA")
        for t in rows:
            table.add_row(
                str(t.number), t.type.value, t.status.value, t.priority.value, t.group.name if t.group else "-",
                t.assignee.username if t.assignee else "-", t.requester.display_name, t.subject[:50],
                _when(t.resolution_due), t.sla_state.value,
            )
        out.print(table if rows else "no tickets")


@ticket_app.command("show")
def ticket_show(number: int) -> None:
    """One ticket: its fields, its message thread and its audit trail."""
    from desk import tickets

    with _session() as session:
        t = tickets.get_ticket(session=session, number=number)
        out.print(f"[bold]#{t.number}[/bold] {t.subject}")
        fields = Table.grid(padding=(0, 2))
        for label, value in (
            ("type", t.type.value), ("status", t.status.value),
            ("priority", f"{t.priority.value} (impact {t.impact}, urgency {t.urgency})"),
            ("intent", f"{t.intent or '-'} (confirmed: {t.confirmed_intent or '-'})"),
            ("group", t.group.name if t.group else "-"), ("assignee", t.assignee.username if t.assignee else "-"),
            ("requester", f"{t.requester.display_name} <{t.requester.email or 'no verified email'}>"),
            ("channel", t.channel), ("created", _when(t.created_at)), ("first response", _when(t.first_response_at)),
            ("first response due", _when(t.first_response_due)), ("resolution due", _when(t.resolution_due)),
            ("SLA", t.sla_state.value), ("resolved", f"{_when(t.resolved_at)} {t.resolution_code.value if t.resolution_code else ''}"),
            ("closed", _when(t.closed_at)), ("reopened", str(t.reopen_count)),
            ("problem", f"#{t.parent.number}" if t.parent else "-"),
            ("tags", ", ".join(tickets.tags_of(session=session, ticket=t)) or "-"),
        ):
            fields.add_row(f"[dim]{label}[/dim]", value)
        out.print(fields)
        if t.description:
            out.print(f"\n{t.description}")
        messages = tickets.thread(session=session, ticket=t)
        if messages:
            out.print("\n[bold]thread[/bold]")
            for m in messages:
                files = f" [{len(m.attachments)} attachment(s)]" if m.attachments else ""
                out.print(f"  {_when(m.created_at)} {m.direction.value} ({m.author_kind.value}, {m.channel}){files}: {m.text}")
        audit = Table("when", "who", "what", "old", "new", title="audit trail")
        for entry in tickets.audit_trail(session=session, ticket=t):
            audit.add_row(_when(entry.at), entry.actor, entry.field, entry.old or "", entry.new or "")
        out.print(audit)


@ticket_app.command("open")
def ticket_open(
    requester: Annotated[str, typer.Option(help="The requester's email address.")],
    subject: Annotated[str, typer.Option(help="One line.")],
    description: Annotated[str, typer.Option(help="The details.")] = "",
    type_: Annotated[Optional[TicketType], typer.Option("--type", help="Default: from the intent's routing rule.")] = None,
    intent: Annotated[Optional[str], typer.Option(help="Category/intent; routes the ticket.")] = None,
    impact: Annotated[int, typer.Option(min=1, max=3, help="1 high (many people) .. 3 low (one person).")] = 3,
    urgency: Annotated[Optional[int], typer.Option(min=1, max=3, help="1 high .. 3 low; default from routing.")] = None,
    group: Annotated[Optional[str], typer.Option(help="Group; default from routing.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="A tag (repeatable).")] = None,
    channel: Annotated[str, typer.Option(help="Where the request came from.")] = "phone",
    name: Annotated[str, typer.Option(help="The requester's name, if new.")] = "",
) -> None:
    """Open a ticket on behalf of a requester (e.g. after a phone call)."""
    from desk import people, tickets

    with _session() as session:
        person = people.resolve_requester(
            session=session, channel="email", external_id=requester.strip().lower(), display_name=name,
            email=requester, email_verified=True,  # an agent vouches for the address
        )
        t = tickets.open_ticket(
            session=session, requester_id=person.id, subject=subject, description=description, channel=channel,
            actor=_actor(), ticket_type=type_, intent=intent, impact=Level(impact),
            urgency=Level(urgency) if urgency else None, group=group, tags=tag or (),
        )
        out.print(
            f"opened #{t.number}: {t.type.value} {t.priority.value} for {t.group.name if t.group else 'no group'}"
            f", assigned to {t.assignee.username if t.assignee else 'nobody yet'}, resolution due {_when(t.resolution_due)}"
        )


@ticket_app.command("assign")
def ticket_assign(
    number: int,
    to: Annotated[Optional[str], typer.Option(help="Agent username; default: least-loaded agent of the group.")] = None,
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Assign a ticket."""
    from bot import agents

    with _session() as session:
        by, now = _acting(session, as_agent), dt.datetime.now(dt.UTC)
        t = (agents.assign(session=session, number=number, by=by, to=to, now=now) if to else
             agents.assign_to_group(session=session, number=number, by=by, now=now))
        out.print(f"#{t.number} assigned to {t.assignee.username if t.assignee else 'nobody'}")


@ticket_app.command("reply")
def ticket_reply(
    number: int,
    text: Annotated[str, typer.Argument(help="The answer, as the requester will read it.")],
    as_agent: Annotated[str, typer.Option("--as", help="The agent's desk username (the answer is signed and "
                                                      "counted as theirs).")],
) -> None:
    """Answer the requester: the reply goes out on the requester's own channel (mail, web chat, Slack...)."""
    from bot import agents

    with _session() as session:
        row = agents.reply(session=session, number=number, by=_acting(session, as_agent), text=text,
                           now=dt.datetime.now(dt.UTC))
        assert row is not None  # no key: always a new answer
        out.print(f"#{number}: reply queued to {row.channel} {row.address} (outbox {row.id}); a running "
                  f"'deskbot serve' sends it")


@ticket_app.command("resolve")
def ticket_resolve(
    number: int,
    code: Annotated[ResolutionCode, typer.Option(help="Resolution code.")] = ResolutionCode.AGENT,
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Resolve a ticket."""
    from bot import agents

    with _session() as session:
        t = agents.set_status(session=session, number=number, by=_acting(session, as_agent), status=Status.RESOLVED,
                              resolution_code=code, now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number} resolved ({code.value}); SLA {t.sla_state.value}")


@ticket_app.command("status")
def ticket_status(
    number: int,
    status: Status,
    code: Annotated[Optional[ResolutionCode], typer.Option(help="Needed to resolve or close.")] = None,
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Move a ticket to another status (pending, open, closed, ...)."""
    from desk import tickets

    with _session() as session:
        t = tickets.change_status(
            session=session, number=number, status=status, resolution_code=code,
            actor=_acting(session, as_agent).name, reopen_window=dt.timedelta(days=_settings().reopen_window_days),
        )
        out.print(f"#{t.number} is {t.status.value}")


@ticket_app.command("note")
def ticket_note(
    number: int,
    text: Annotated[str, typer.Argument(help="For agents only: never sent to the requester.")],
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Add an internal note to a ticket."""
    from bot import agents

    with _session() as session:
        agents.note(session=session, number=number, by=_acting(session, as_agent), text=text, channel="cli",
                    now=dt.datetime.now(dt.UTC))
        out.print(f"#{number}: note added")


@ticket_app.command("priority")
def ticket_priority(number: int, priority: Priority, as_agent: Annotated[Optional[str], AS_AGENT] = None) -> None:
    """Set a ticket's priority (P1..P4) over the impact x urgency matrix; the SLA targets follow."""
    from bot import agents

    with _session() as session:
        t = agents.set_priority(session=session, number=number, by=_acting(session, as_agent), priority=priority,
                                now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number} is {t.priority.value}; resolution due {_when(t.resolution_due)}")


@ticket_app.command("merge")
def ticket_merge(
    number: int,
    into: Annotated[int, typer.Option("--into", help="The ticket it duplicates.")],
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Merge a duplicate into another ticket: its conversation moves there, it is resolved as a duplicate."""
    from bot import agents

    with _session() as session:
        t = agents.merge(session=session, number=number, into=into, by=_acting(session, as_agent),
                         now=dt.datetime.now(dt.UTC))
        out.print(f"#{number} merged into #{t.number} and resolved as a duplicate")


@ticket_app.command("intent")
def ticket_intent(
    number: int,
    label: Annotated[str, typer.Argument(help="What the ticket really was about (an intent of the taxonomy).")],
    as_agent: Annotated[Optional[str], AS_AGENT] = None,
) -> None:
    """Confirm or correct a ticket's intent: the next 'deskbot nlp train' learns from it."""
    from bot import agents
    from bot.policy import labels

    with _session() as session:
        t = agents.confirm_intent(session=session, number=number, by=_acting(session, as_agent), intent=label,
                                  known=labels(), now=dt.datetime.now(dt.UTC))
        said = f" (the bot read {t.intent})" if t.intent and t.intent != label else ""
        out.print(f"#{t.number}: intent {label} confirmed{said}")


@ticket_app.command("csat")
def ticket_csat(number: int, score: Annotated[int, typer.Argument(min=1, max=5, help="1 (bad) .. 5 (very good).")],
                as_agent: Annotated[Optional[str], AS_AGENT] = None) -> None:
    """Record the requester's satisfaction with a resolved ticket (told on the phone, say)."""
    from bot import agents

    with _session() as session:
        t = agents.record_csat(session=session, number=number, score=score, by=_acting(session, as_agent),
                               now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number}: satisfaction {t.csat_score}/5 recorded")


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

    with _session() as session:
        user = people.add_user(session=session, username=username, display_name=name or username, email=email,
                               role=role, groups=group or ())
        out.print(f"added {user.role.value} {user.username} to {', '.join(g.name for g in user.groups) or 'no group'}")


@user_app.command("list")
def user_list() -> None:
    """List agents and admins."""
    from desk import people

    with _session() as session:
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

    settings = _settings()
    with _session() as session:
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

    with _session() as session:
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

    with _session() as session:
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
    with _session() as session:
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

    with _session() as session:
        alerts = sla.scan(session=session, now=dt.datetime.now(dt.UTC))
        for a in alerts:
            out.print(f"#{a.ticket_number} {a.kind.value} {a.level.value} (due {_when(a.due)}, group {a.group}, assignee {a.assignee or '-'})")
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
