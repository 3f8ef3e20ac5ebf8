"""What every ``deskbot`` command shares: the consoles, the one ``Deskbot`` of the process, a unit of work,
who acts. The command modules import it; none of them imports another command module."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bot.composition import Deskbot
from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot import agents

out = Console()
err = Console(stderr=True)


class CliState:
    deskbot: Deskbot | None = None


def settings() -> Settings:
    if CliState.deskbot is None:
        CliState.deskbot = Deskbot(load_settings())
    return CliState.deskbot.settings


def deskbot() -> Deskbot:
    settings()
    assert CliState.deskbot is not None
    return CliState.deskbot


def log_to_stderr(settings: Settings) -> None:
    """The log of the long-running commands (serve and its workers): one format, the chosen level."""
    level = settings.log_level.upper()
    root = logging.getLogger()
    before = set(root.handlers)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in set(root.handlers) - before:
        handler.setLevel(level)  # bm25s sets its own logger to DEBUG when imported: the chosen level still holds
    # faiss logs each CPU build it could not load, as a ModuleNotFoundError, at INFO: it reads like a failure
    for name in ("alembic", "faiss.loader"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if settings.log_level != "debug":  # aiosmtpd logs each SMTP command; deskbot.email logs each mail it accepts
        logging.getLogger("mail.log").setLevel(logging.WARNING)


@contextmanager
def session() -> Iterator["Session"]:
    with deskbot().uow() as unit:
        yield unit


def actor() -> str:
    return f"cli:{getpass.getuser()}"


AS_AGENT = typer.Option("--as", help="The desk user who acts (recorded in the audit trail; default: this "
                                     "machine's user, as cli:NAME).")


def acting(session: "Session", username: str | None) -> "agents.Actor":
    from bot import agents
    from desk import people

    if username is None:
        return agents.Actor(actor())
    return agents.Actor.of(people.get_user(session=session, username=username))


def when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"
