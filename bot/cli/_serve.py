"""``deskbot serve`` and ``deskbot db ...``: the service as the composition root builds it, and its database."""

from __future__ import annotations

import asyncio
from typing import Annotated, Optional

import typer

from bot.cli import _common as common
from bot.cli._common import out
from desk import DeskError

db_app = typer.Typer(help="The database.", no_args_is_help=True)


def serve(
    host: Annotated[Optional[str], typer.Option(help="Listen address (default: DESKBOT_HTTP_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Listen port (default: DESKBOT_HTTP_PORT).")] = None,
) -> None:
    """Start deskbot: the HTTP app and every configured channel."""
    import uvicorn

    from bot.composition import build_service
    from bot.runtime import DrainingServer
    from bot.worker_processes import WorkerStartError
    from desk import migrate

    deskbot = common.deskbot()
    settings = deskbot.settings
    common.log_to_stderr(settings)
    current, head = migrate.current_revision(deskbot.engine), migrate.head_revision(deskbot.engine)
    if current != head:
        raise DeskError(f"the database is at revision {current or 'empty'}, the code needs {head}: run 'deskbot db upgrade'")
    host, port = host or settings.http_host, port if port is not None else settings.http_port
    service = build_service(deskbot)
    for line in service.startup_lines(host, port):
        out.print(line)
    if service.pipeline is not None:
        out.print(f"  Workers: {settings.workers} process(es), each loading its model before HTTP answers "
                  f"(DESKBOT_WORKERS)" if settings.workers else "  Workers: in this process (DESKBOT_WORKERS=0)")
    config = uvicorn.Config(service.app, host=host, port=port, log_level=settings.log_level, lifespan="on",
                            timeout_graceful_shutdown=5)
    try:
        asyncio.run(service.run(DrainingServer(config), worker_processes=settings.workers))
    except WorkerStartError as exc:
        raise DeskError(str(exc)) from None


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
