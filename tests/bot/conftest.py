"""The service as ``deskbot serve`` builds it (``bot.composition.build_service``), for the end-to-end tests:
they choose settings and an analyzer, never how the parts are wired."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from sqlalchemy import Engine

from bot.composition import Deskbot, Service, build_service
from bot.settings import Settings


@dataclass(frozen=True)
class Running:
    service: Service
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def desk_settings(engine: Engine) -> Callable[..., Settings]:
    """``desk_settings(**changes)``: settings on the test database, SMTP on a free loopback port."""
    def make(**changes: object) -> Settings:
        values: dict[str, object] = {"database_url": engine.url.render_as_string(hide_password=False), "smtp_port": 0}
        return Settings(**{**values, **changes})  # type: ignore[arg-type]

    return make


@pytest.fixture
def serving() -> Callable[[Deskbot], AbstractContextManager[Running]]:
    """``with serving(deskbot) as running:`` ``build_service(deskbot)`` run as ``deskbot serve`` runs it (HTTP, the
    channels its settings turn on, workers, one dispatcher per channel) on a free loopback port, in a thread."""
    @contextmanager
    def serve(deskbot: Deskbot) -> Iterator[Running]:
        service = build_service(deskbot)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on", timeout_graceful_shutdown=2))
        thread = threading.Thread(target=lambda: asyncio.run(service.run(server)), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
                time.sleep(0.02)
            yield Running(service, port)
        finally:
            server.should_exit = True
            thread.join(30)
            deskbot.close()

    return serve
