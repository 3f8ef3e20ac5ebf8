"""``deskbot chat``, ``deskbot worker`` and ``deskbot inbox ...``: the bot from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import signal
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import out

inbox_app = typer.Typer(help="The inbox: failed messages and retries, mail held over a sender's hourly limit.",
                        no_args_is_help=True)


def chat(
    email: Annotated[Optional[str], typer.Option(help="Your email (shown to agents; not verified here).")] = None,
    name: Annotated[str, typer.Option(help="Your name.")] = "",
) -> None:
    """Chat with the bot in this terminal, through the same pipeline as every channel."""
    from bot.dispatcher import Dispatcher

    deskbot = common.deskbot()
    pipeline = deskbot.pipeline  # loads the model and the KB index now, before the first question
    channel = deskbot.terminal(user=getpass.getuser(), display_name=name, email=email,
                               write=lambda text: out.print(f"[bold cyan]deskbot>[/bold cyan] {text}", highlight=False))
    dispatcher = Dispatcher(uow=deskbot.uow, channels={"cli": channel}, worker=pipeline.worker,
                            settings=pipeline.settings)

    async def session() -> None:
        await channel.start(pipeline.receive)
        out.print("Type your question (YES/NO answers 'did this solve it?'; Ctrl-D or 'quit' ends).")
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if line.strip().lower() in ("quit", "exit"):
                break
            if not line.strip():
                continue
            await channel.say(line)
            while await asyncio.to_thread(pipeline.process_batch):
                pass
            while await dispatcher.dispatch_once():
                pass
        await channel.stop()

    asyncio.run(session())


def worker(
    supervised: Annotated[bool, typer.Option(hidden=True, help="Started by 'deskbot serve' (bot.worker_processes): "
                                                               "wake-ups on stdin, its readiness and replies on stdout.")] = False,
) -> None:
    """An extra worker process (PostgreSQL): claims inbox messages until SIGTERM."""
    from bot.runtime import Loops
    from bot.worker_processes import run_supervised

    deskbot = common.deskbot()
    if supervised:
        common.log_to_stderr(deskbot.settings)
        # serve does the desk's periodic work; this process only the messages (and its own NLP's refresh)
        asyncio.run(run_supervised(Loops(pipeline=deskbot.pipeline, housekeeping=False)))
        sys.exit(0)
    loops = Loops(pipeline=deskbot.pipeline)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await loops.start()
        out.print(f"worker {deskbot.pipeline.worker} running on {deskbot.engine.url.render_as_string()}")
        await stop.wait()
        await loops.stop()

    asyncio.run(run())
    sys.exit(0)


@inbox_app.command("failed")
def inbox_failed() -> None:
    """Messages parked after too many failed tries, with their errors."""
    from desk import queue

    with common.deskbot().uow() as session:
        rows = queue.failed_inbound(session=session)
        table = Table("id", "key", "channel", "tries", "received", "error")
        for r in rows:
            table.add_row(str(r.id), r.key, r.channel, str(r.attempts), r.received_at.isoformat(timespec="seconds"),
                          (r.error or "")[:120])
        out.print(table if rows else "no failed messages")


@inbox_app.command("retry")
def inbox_retry(row_id: int) -> None:
    """Put a failed message back in the queue."""
    from desk import queue

    with common.deskbot().uow() as session:
        row = queue.retry_inbound(session=session, row_id=row_id, now=dt.datetime.now(dt.UTC))
        out.print(f"message {row.id} ({row.key}) queued again")


@inbox_app.command("held")
def inbox_held(
    sender: Annotated[Optional[str], typer.Option(help="Only this sender's (an email address, a Slack user id).")] = None,
) -> None:
    """Messages held over their sender's hourly limit: stored, not processed, nobody notified."""
    from desk import queue

    with common.deskbot().uow() as session:
        rows = queue.held_inbound(session=session, sender=sender.strip() if sender else None)
        table = Table("id", "channel", "sender", "received", "key")
        for r in rows:
            table.add_row(str(r.id), r.channel, r.sender, r.received_at.isoformat(timespec="seconds"), r.key)
        out.print(table if rows else "no held messages")


@inbox_app.command("release")
def inbox_release(
    row_ids: Annotated[Optional[list[int]], typer.Argument(help="Ids from 'deskbot inbox held'.")] = None,
    sender: Annotated[Optional[str], typer.Option(help="Release all of this sender's held messages.")] = None,
) -> None:
    """Let held messages through: the worker handles them (tickets, replies, notices) as if just received."""
    from desk import queue

    if bool(row_ids) == (sender is not None):
        raise typer.BadParameter("give the ids of held messages or --sender ADDRESS (one of them)")
    with common.deskbot().uow() as session:
        rows = queue.release_inbound(session=session, now=dt.datetime.now(dt.UTC), row_ids=row_ids or (),
                                     sender=sender.strip() if sender else None)
        ids = ", ".join(str(r.id) for r in rows)
        out.print(f"released {len(rows)} message(s){f': {ids}' if rows else ''}; a running worker handles them")


outbox_app = typer.Typer(help="The outbox: replies a channel refused too often.", no_args_is_help=True)


@outbox_app.command("failed")
def outbox_failed() -> None:
    """Replies parked after too many failed sends, with their errors."""
    from desk import queue

    with common.deskbot().uow() as session:
        rows = queue.failed_outbound(session=session)
        table = Table("id", "channel", "to", "tries", "created", "error")
        for r in rows:
            table.add_row(str(r.id), r.channel, f"{r.address} {r.thread}".strip(), str(r.attempts),
                          r.created_at.isoformat(timespec="seconds"), (r.error or "")[:120])
        out.print(table if rows else "no failed replies")
