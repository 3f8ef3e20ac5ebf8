"""The one HTTP app: health, the REST API (``bot.web``), channel webhooks and web chat; the console will mount here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message

from bot.body_limit import BodyLimit
from bot.composition import ChannelState, Deskbot
from bot.settings import is_loopback_host
from bot.web import AnalyzerSource, install_api
from bot.web.errors import API_PREFIX, too_large_body
from desk import DatabaseUnavailable

VERSION = "0.1.0"
WARM_UP_PATH = "/.well-known/deskbot-warm-up"  # a path no route has (see warm_up)


def create_app(*, deskbot: Deskbot, channels: list[ChannelState], routers: Sequence[APIRouter] = (),
               analyzer: AnalyzerSource = lambda: None, body_limits: Mapping[str, int] | None = None) -> FastAPI:
    """``analyzer``: the NLP when this process loaded it (the API's suggested articles), else None. ``body_limits``:
    the channels' paths that need more room for a body (an upload); the operator's own prefixes win."""
    settings = deskbot.settings
    docs = settings.http_docs
    app = FastAPI(title="deskbot", version=VERSION, docs_url="/docs" if docs else None,
                  redoc_url="/redoc" if docs else None, openapi_url="/openapi.json" if docs else None)
    install_api(app, uow=deskbot.uow, settings=settings, analyzer=analyzer)
    for router in routers:
        app.include_router(router)
    # Outermost, so that no handler, Bolt's included, reads a byte of a body past the limit.
    app.add_middleware(BodyLimit, max_bytes=settings.http_max_body_bytes,
                       per_prefix={**(body_limits or {}), **settings.http_max_body_bytes_by_prefix}, answers={f"{API_PREFIX}/": too_large_body})

    @app.get("/health")
    def health(request: Request) -> JSONResponse:
        try:
            deskbot.uow.ping()
            database = "ok"
        except DatabaseUnavailable as exc:
            database = f"unavailable: {exc}"
        status = "ok" if database == "ok" else "degraded"
        body: dict[str, object] = {"status": status}
        if _from_this_machine(request):  # the operator's view; the world learns neither settings nor errors
            body.update({"version": VERSION, "database": database,
                         "channels": {c.name: {"on": c.on, "reason": c.reason} for c in channels}})
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    return app


async def warm_up(app: ASGIApp) -> None:
    """FastAPI builds a route's handling state (signatures, dependencies, models) the first time a request walks
    past it: the first request after start held the event loop 150 ms. A request for a path no route has walks
    them all; call this before anything listens."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": WARM_UP_PATH, "raw_path": WARM_UP_PATH.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    await app(scope, receive, send)


def _from_this_machine(request: Request) -> bool:
    return is_loopback_host(request.client.host if request.client else "")
