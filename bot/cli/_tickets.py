"""``deskbot ticket ...``: the desk's tickets from the command line, through the agent service layer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import out
from desk import Level, Priority, ResolutionCode, Status, TicketType

ticket_app = typer.Typer(help="Tickets.", no_args_is_help=True)


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
    with common.session() as session:
        rows = tickets.list_tickets(session=session, statuses=statuses, group=group, assignee=assignee, limit=limit)
        table = Table("#", "type", "status", "prio", "group", "assignee", "requester", "subject", "resolution due", "SLA")
        for t in rows:
            table.add_row(
                str(t.number), t.type.value, t.status.value, t.priority.value, t.group.name if t.group else "-",
                t.assignee.username if t.assignee else "-", t.requester.display_name, t.subject[:50],
                common.when(t.resolution_due), t.sla_state.value,
            )
        out.print(table if rows else "no tickets")


@ticket_app.command("show")
def ticket_show(number: int) -> None:
    """One ticket: its fields, its message thread and its audit trail."""
    from desk import tickets

    with common.session() as session:
        t = tickets.get_ticket(session=session, number=number)
        out.print(f"[bold]#{t.number}[/bold] {t.subject}")
        fields = Table.grid(padding=(0, 2))
        for label, value in (
            ("type", t.type.value), ("status", t.status.value),
            ("priority", f"{t.priority.value} (impact {t.impact}, urgency {t.urgency})"),
            ("intent", f"{t.intent or '-'} (confirmed: {t.confirmed_intent or '-'})"),
            ("group", t.group.name if t.group else "-"), ("assignee", t.assignee.username if t.assignee else "-"),
            ("requester", f"{t.requester.display_name} <{t.requester.email or 'no verified email'}>"),
            ("channel", t.channel), ("created", common.when(t.created_at)), ("first response", common.when(t.first_response_at)),
            ("first response due", common.when(t.first_response_due)), ("resolution due", common.when(t.resolution_due)),
            ("SLA", t.sla_state.value), ("resolved", f"{common.when(t.resolved_at)} {t.resolution_code.value if t.resolution_code else ''}"),
            ("closed", common.when(t.closed_at)), ("reopened", str(t.reopen_count)),
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
                out.print(f"  {common.when(m.created_at)} {m.direction.value} ({m.author_kind.value}, {m.channel}){files}: {m.text}")
        audit = Table("when", "who", "what", "old", "new", title="audit trail")
        for entry in tickets.audit_trail(session=session, ticket=t):
            audit.add_row(common.when(entry.at), entry.actor, entry.field, entry.old or "", entry.new or "")
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

    with common.session() as session:
        person = people.resolve_requester(
            session=session, channel="email", external_id=requester.strip().lower(), display_name=name,
            email=requester, email_verified=True,  # an agent vouches for the address
        )
        t = tickets.open_ticket(
            session=session, requester_id=person.id, subject=subject, description=description, channel=channel,
            actor=common.actor(), ticket_type=type_, intent=intent, impact=Level(impact),
            urgency=Level(urgency) if urgency else None, group=group, tags=tag or (),
        )
        out.print(
            f"opened #{t.number}: {t.type.value} {t.priority.value} for {t.group.name if t.group else 'no group'}"
            f", assigned to {t.assignee.username if t.assignee else 'nobody yet'}, resolution due {common.when(t.resolution_due)}"
        )


@ticket_app.command("assign")
def ticket_assign(
    number: int,
    to: Annotated[Optional[str], typer.Option(help="Agent username; default: least-loaded agent of the group.")] = None,
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Assign a ticket."""
    from bot import agents

    with common.session() as session:
        by, now = common.acting(session, as_agent), dt.datetime.now(dt.UTC)
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

    with common.session() as session:
        row = agents.reply(session=session, number=number, by=common.acting(session, as_agent), text=text,
                           now=dt.datetime.now(dt.UTC))
        assert row is not None  # no key: always a new answer
        out.print(f"#{number}: reply queued to {row.channel} {row.address} (outbox {row.id}); a running "
                  f"'deskbot serve' sends it")


@ticket_app.command("resolve")
def ticket_resolve(
    number: int,
    code: Annotated[ResolutionCode, typer.Option(help="Resolution code.")] = ResolutionCode.AGENT,
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Resolve a ticket."""
    from bot import agents

    with common.session() as session:
        t = agents.set_status(session=session, number=number, by=common.acting(session, as_agent), status=Status.RESOLVED,
                              resolution_code=code, now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number} resolved ({code.value}); SLA {t.sla_state.value}")


@ticket_app.command("status")
def ticket_status(
    number: int,
    status: Status,
    code: Annotated[Optional[ResolutionCode], typer.Option(help="Needed to resolve or close.")] = None,
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Move a ticket to another status (pending, open, closed, ...)."""
    from desk import tickets

    with common.session() as session:
        t = tickets.change_status(
            session=session, number=number, status=status, resolution_code=code,
            actor=common.acting(session, as_agent).name, reopen_window=dt.timedelta(days=common.settings().reopen_window_days),
        )
        out.print(f"#{t.number} is {t.status.value}")


@ticket_app.command("note")
def ticket_note(
    number: int,
    text: Annotated[str, typer.Argument(help="For agents only: never sent to the requester.")],
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Add an internal note to a ticket."""
    from bot import agents

    with common.session() as session:
        agents.note(session=session, number=number, by=common.acting(session, as_agent), text=text, channel="cli",
                    now=dt.datetime.now(dt.UTC))
        out.print(f"#{number}: note added")


@ticket_app.command("priority")
def ticket_priority(number: int, priority: Priority, as_agent: Annotated[Optional[str], common.AS_AGENT] = None) -> None:
    """Set a ticket's priority (P1..P4) over the impact x urgency matrix; the SLA targets follow."""
    from bot import agents

    with common.session() as session:
        t = agents.set_priority(session=session, number=number, by=common.acting(session, as_agent), priority=priority,
                                now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number} is {t.priority.value}; resolution due {common.when(t.resolution_due)}")


@ticket_app.command("merge")
def ticket_merge(
    number: int,
    into: Annotated[int, typer.Option("--into", help="The ticket it duplicates.")],
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Merge a duplicate into another ticket: its conversation moves there, it is resolved as a duplicate."""
    from bot import agents

    with common.session() as session:
        t = agents.merge(session=session, number=number, into=into, by=common.acting(session, as_agent),
                         now=dt.datetime.now(dt.UTC))
        out.print(f"#{number} merged into #{t.number} and resolved as a duplicate")


@ticket_app.command("intent")
def ticket_intent(
    number: int,
    label: Annotated[str, typer.Argument(help="What the ticket really was about (an intent of the taxonomy).")],
    as_agent: Annotated[Optional[str], common.AS_AGENT] = None,
) -> None:
    """Confirm or correct a ticket's intent: the next 'deskbot nlp train' learns from it."""
    from bot import agents
    from bot.policy import labels

    with common.session() as session:
        t = agents.confirm_intent(session=session, number=number, by=common.acting(session, as_agent), intent=label,
                                  known=labels(), now=dt.datetime.now(dt.UTC))
        said = f" (the bot read {t.intent})" if t.intent and t.intent != label else ""
        out.print(f"#{t.number}: intent {label} confirmed{said}")


@ticket_app.command("csat")
def ticket_csat(number: int, score: Annotated[int, typer.Argument(min=1, max=5, help="1 (bad) .. 5 (very good).")],
                as_agent: Annotated[Optional[str], common.AS_AGENT] = None) -> None:
    """Record the requester's satisfaction with a resolved ticket (told on the phone, say)."""
    from bot import agents

    with common.session() as session:
        t = agents.record_csat(session=session, number=number, score=score, by=common.acting(session, as_agent),
                               now=dt.datetime.now(dt.UTC))
        out.print(f"#{t.number}: satisfaction {t.csat_score}/5 recorded")
