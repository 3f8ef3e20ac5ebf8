"""Fixtures of the REST API tests: the app as ``deskbot serve`` builds it, on a real server, and the desk's agents."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.http import create_app
from bot.settings import Settings
from desk import Role, UnitOfWork, people


@pytest.fixture
def served(on_loopback):  # noqa: ANN001, ANN201
    """``with served(engine, analyzer) as client:``, ``create_app`` as ``deskbot serve`` builds it (with ``analyzer``
    as its NLP), on a real server."""
    @contextmanager
    def serve(engine: Engine, analyzer: object = None) -> Iterator[httpx.Client]:
        deskbot = Deskbot(Settings(database_url=engine.url.render_as_string(hide_password=False)))  # type: ignore[call-arg]
        app = create_app(deskbot=deskbot, channels=channel_states(deskbot.settings),
                         analyzer=lambda: analyzer)  # type: ignore[arg-type,return-value]
        try:
            with on_loopback(app) as client:
                yield client
        finally:
            deskbot.close()
    return serve


@pytest.fixture
def desk_users(uow: UnitOfWork) -> None:
    """alice (Network; Service Desk is everyone's triage), bob (Messaging), root (admin)."""
    with uow() as session:
        for username, groups, role in (("alice", ["Network"], Role.AGENT), ("bob", ["Messaging"], Role.AGENT),
                                       ("root", [], Role.ADMIN)):
            people.add_user(session=session, username=username, display_name=username.title(), role=role,
                            email=f"{username}@corp.example", groups=groups)


@pytest.fixture
def client(served, engine: Engine, desk_users: None) -> Iterator[httpx.Client]:
    with served(engine) as c:
        yield c
