"""The console's fixtures: the HTTP app with the console, on a real server, and its users."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from console_client import PASSWORD
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.console import console_router
from bot.http import create_app
from bot.retraining import Retraining
from bot.settings import Settings
from desk import Role, UnitOfWork, accounts, people


@pytest.fixture
def console(on_loopback, engine: Engine, uow: UnitOfWork):  # noqa: ANN001, ANN201
    """``with console(**settings) as client:`` the HTTP app with the console on a real server; agents alice
    (Network), bob (Messaging) and the admin root, each with ``PASSWORD``."""
    with uow() as session:
        for username, groups, role in (("alice", ["Network"], Role.AGENT), ("bob", ["Messaging"], Role.AGENT),
                                       ("root", [], Role.ADMIN)):
            people.add_user(session=session, username=username, display_name=username.title(), role=role,
                            email=f"{username}@corp.example", groups=groups)
            accounts.set_password(session=session, username=username, password=PASSWORD)

    @contextmanager
    def serve(**changes: object) -> Iterator[httpx.Client]:
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False), **changes)  # type: ignore[arg-type]
        deskbot = Deskbot(settings)
        app = create_app(deskbot=deskbot, channels=channel_states(settings), routers=[
            console_router(uow=deskbot.uow, analyzer=lambda: None, kb_url=f"{settings.public_url}/kb",
                           retraining=Retraining.from_settings(settings), registry=deskbot.registry)])
        try:
            with on_loopback(app) as client:
                yield client
        finally:
            deskbot.close()

    return serve


