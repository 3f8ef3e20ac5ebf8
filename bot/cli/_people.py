"""``deskbot user ...`` and ``deskbot group ...``: agents, admins and the groups they work in."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import out
from desk import Role

user_app = typer.Typer(help="Agents and admins.", no_args_is_help=True)
group_app = typer.Typer(help="Groups (teams) and their business hours.", no_args_is_help=True)


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
