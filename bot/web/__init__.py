"""The web side of the HTTP app: the REST API under ``/api/v1`` with its sign-in (the console will join it)."""

from __future__ import annotations

from fastapi import FastAPI

from bot.retraining import Retraining
from bot.settings import Settings
from bot.web.api import api_router, sign_in_router
from bot.web.auth import Authenticator, Principal, SignInPolicy, require_admin, signed_in
from bot.web.errors import ApiError, ErrorCode, install_error_handlers
from bot.web.tickets import AnalyzerSource
from desk import UnitOfWork
from nlp.registry import ModelRegistry

__all__ = ["AnalyzerSource", "ApiError", "ErrorCode", "Principal", "install_api", "require_admin", "signed_in"]


def install_api(app: FastAPI, *, uow: UnitOfWork, settings: Settings, analyzer: AnalyzerSource = lambda: None) -> None:
    """Mount ``/api/v1`` on ``app``: its authenticator, its routes and its JSON error shape. ``analyzer``: the
    process's NLP (None without it: tickets then come without suggested articles)."""
    app.state.authenticator = Authenticator(uow=uow, policy=SignInPolicy.from_settings(settings))
    install_error_handlers(app)
    app.include_router(sign_in_router())
    app.include_router(api_router(uow=uow, analyzer=analyzer, kb_url=f"{settings.public_url.rstrip('/')}/kb",
                                  retraining=Retraining.from_settings(settings),
                                  registry=ModelRegistry(settings.model_dir)))
