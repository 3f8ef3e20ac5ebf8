"""The ``deskbot`` command: serve, database, tickets, people, groups, reports, the bot and its NLP.

Each ``_module`` holds one family of commands and imports only ``_common`` (the consoles and the one
``Deskbot`` of the process); this module puts them together."""

from __future__ import annotations

import sys

import typer

from bot.cli._accounts import passwd, token_app
from bot.cli._bot import chat, inbox_app, outbox_app, worker
from bot.cli._common import CliState, err
from bot.cli._nlp import kb_app, nlp_app
from bot.cli._people import group_app, user_app
from bot.cli._reports import report_app, sla_app
from bot.cli._serve import db_app, serve
from bot.cli._tickets import ticket_app
from bot.settings import ConfigError
from desk import DatabaseUnavailable, DeskError

app = typer.Typer(help="deskbot: the IT service-desk assistant.", no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(chat)
app.command()(worker)
app.command()(serve)
user_app.command("passwd")(passwd)
for sub, name in ((inbox_app, "inbox"), (outbox_app, "outbox"), (nlp_app, "nlp"), (kb_app, "kb"), (db_app, "db"),
                  (ticket_app, "ticket"), (user_app, "user"), (group_app, "group"), (report_app, "report"),
                  (sla_app, "sla"), (token_app, "token")):
    app.add_typer(sub, name=name)


def main() -> None:
    """Entry point: a known failure is one clear line on stderr, never a traceback."""
    from nlp import ArticleError, ModelError
    from nlp.examples import DataError

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
    except Exception as exc:  # usage errors: click's, or (typer >= 0.25 vendors click) typer's own copy of them
        import click

        show = getattr(exc, "show", None)
        if isinstance(exc, (click.ClickException, typer.TyperException)) and callable(show):
            show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    finally:
        if CliState.deskbot is not None:
            CliState.deskbot.close()
