"""The web side of the HTTP app: the REST API under ``/api/v1`` with its sign-in (the console will join it)."""

from __future__ import annotations

from fastapi import FastAPI

from bot.settings import Settings
from bot.web.api import api_router, sign_in_router
from bot.web.auth import Authenticator, Principal, SignInPolicy, require_admin, signed_in
from bot.web.errors import ApiError, ErrorCode, install_error_handlers
from desk import UnitOfWork

__all__ = ["ApiError", "ErrorCode", "Principal", "install_api", "require_admin", "signed_in"]


def install_api(app: FastAPI, *, uow: UnitOfWork, settings: Settings) -> None:
    """Mount ``/api/v1`` on ``app``: its authenticator, its routes and its JSON error shape."""
    app.state.authenticator = Authenticator(uow=uow, policy=SignInPolicy.from_settings(settings))
    install_error_handlers(app)
    app.include_router(sign_in_router())
    app.include_router(api_router(uow=uow))
