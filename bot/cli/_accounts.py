"""``deskbot user passwd`` and ``deskbot token ...``: agents' and admins' credentials for the API and the console."""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import err, out
from desk import DeskError

token_app = typer.Typer(help="API tokens of agents and admins (sent as 'Authorization: Bearer <token>').",
                        no_args_is_help=True)


def passwd(
    username: str,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password once from standard input (scripts).")] = False,
) -> None:
    """Set an agent's or admin's password (at least 12 characters) for signing in to the API and the console."""
    from desk import accounts

    password = _password_from_stdin() if stdin else _password_from_terminal()
    with common.session() as session:
        accounts.set_password(session=session, username=username, password=password)
    out.print(f"password of {username} set")


def _password_from_stdin() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line  # the newline ends it; every other character is the password


def _password_from_terminal() -> str:
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        raise DeskError("the two passwords differ; nothing changed")
    return password


@token_app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for (e.g. 'nightly export').")] = "",
) -> None:
    """Create an API token: printed once on standard output, never shown again."""
    from desk import accounts

    with common.session() as session:
        new = accounts.create_token(session=session, username=username, name=name, now=dt.datetime.now(dt.UTC))
        err.print(f"token {new.token.id} for {username}{f' ({new.token.name})' if new.token.name else ''}; "
                  "copy it now: it is not shown again (the desk keeps only its hash)", markup=False)
        out.print(new.secret, markup=False, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(username: Annotated[Optional[str], typer.Argument(help="Only this user's tokens.")] = None) -> None:
    """List API tokens (never their secrets): who, what for, when last used, revoked or not."""
    from desk import accounts

    with common.session() as session:
        tokens = accounts.list_tokens(session=session, username=username)
        table = Table("id", "user", "name", "prefix", "created", "last used", "revoked")
        for t in tokens:
            table.add_row(str(t.id), t.user.username, t.name or "-", f"{t.prefix}...", common.when(t.created_at),
                          common.when(t.last_used_at), common.when(t.revoked_at) if t.revoked_at else "no")
        out.print(table if tokens else "no API tokens")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (deskbot token list).")]) -> None:
    """Revoke an API token: it is refused from now on."""
    from desk import accounts

    with common.session() as session:
        token = accounts.revoke_token(session=session, token_id=token_id, now=dt.datetime.now(dt.UTC))
        out.print(f"token {token.id} of {token.user.username} revoked ({common.when(token.revoked_at)})")
