"""The one HTTP app: health now; channel webhooks, web chat, REST API and console mount here."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from bot.composition import ChannelState, Deskbot
from desk import DatabaseUnavailable

VERSION = "0.1.0"


def create_app(*, deskbot: Deskbot, channels: list[ChannelState], routers: Sequence[APIRouter] = ()) -> FastAPI:
    app = FastAPI(title="deskbot", version=VERSION)
    for router in routers:
        app.include_router(router)

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            deskbot.uow.ping()
            database = "ok"
        except DatabaseUnavailable as exc:
            database = f"unavailable: {exc}"
        body = {
            "status": "ok" if database == "ok" else "degraded",
            "version": VERSION,
            "database": database,
            "channels": {c.name: {"on": c.on, "reason": c.reason} for c in channels},
        }
        return JSONResponse(body, status_code=200 if database == "ok" else 503)

    return app
