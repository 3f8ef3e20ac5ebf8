"""The REST API's routes under ``/api/v1``: sign-in, who am I, groups, tickets (``bot.web.tickets``), requesters,
the KB and the KPIs (``bot.web.requesters``, ``.kb``, ``.kpis``), and the admin routes.

Authorisation is not written in any handler: the whole ``/api/v1`` router runs ``signed_in`` (401 for an
anonymous caller) and its ``/admin`` part ``require_admin`` (403 for an agent). Sign-in is the one route
outside it. A router added to ``api_router`` later inherits both; tests/bot/test_api_auth.py walks the
OpenAPI spec to prove it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from bot.web.admin import ADMIN_TAG, admin_router
from bot.web.auth import Principal, authenticator_of, signed_in
from bot.web.kb import kb_router
from bot.web.kb_editor import kb_editor_router
from bot.web.kpis import kpis_router
from bot.web.requesters import requesters_router
from bot.web.tickets import AnalyzerSource, tickets_router
from desk import UnitOfWork, people
from desk.accounts import MAX_PASSWORD_LENGTH

if TYPE_CHECKING:
    from bot.retraining import Retraining
    from nlp.registry import ModelRegistry

PREFIX = "/api/v1"
__all__ = ["ADMIN_TAG", "PREFIX", "api_router", "sign_in_router"]
SignedIn = Annotated[Principal, Depends(signed_in)]


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class SignInAnswer(BaseModel):
    principal: Principal
    csrf_token: str  # send it as X-CSRF-Token with every POST, PUT, PATCH, DELETE of this session


class GroupOut(BaseModel):
    name: str
    timezone: str
    working_hours: str


def sign_in_router() -> APIRouter:
    """The one API route an anonymous caller may use."""
    router = APIRouter(prefix=PREFIX, tags=["auth"])

    @router.post("/auth/login", response_model=SignInAnswer)
    def login(credentials: Credentials, request: Request, response: Response) -> SignInAnswer:
        """Sign in with a password: sets the session cookie (and the CSRF cookie) for the console."""
        principal, csrf = authenticator_of(request).sign_in(
            username=credentials.username, password=credentials.password,
            ip=request.client.host if request.client else "", response=response)
        return SignInAnswer(principal=principal, csrf_token=csrf)

    return router


def api_router(*, uow: UnitOfWork, analyzer: AnalyzerSource, kb_url: str, retraining: Retraining,
               registry: ModelRegistry) -> APIRouter:
    """Every other API route; each needs a signed-in agent or admin."""
    router = APIRouter(prefix=PREFIX, dependencies=[Depends(signed_in)])

    @router.post("/auth/logout", status_code=204, tags=["auth"])
    def logout(request: Request, response: Response) -> None:
        """End this browser's session (a token stays valid: revoke it with 'deskbot token revoke')."""
        authenticator_of(request).sign_out(request=request, response=response)

    @router.get("/me", response_model=Principal, tags=["auth"])
    def me(principal: SignedIn) -> Principal:
        """Who is signed in."""
        return principal

    @router.get("/groups", response_model=list[GroupOut], tags=["groups"])
    def groups(principal: SignedIn) -> list[GroupOut]:
        """The caller's groups (an admin: all of them)."""
        with uow() as session:
            return [GroupOut(name=g.name, timezone=g.timezone, working_hours=g.working_hours)
                    for g in people.list_groups(session=session)
                    if principal.is_admin or g.name in principal.groups]

    router.include_router(tickets_router(uow=uow, analyzer=analyzer, kb_url=kb_url))
    router.include_router(requesters_router(uow=uow))
    router.include_router(kb_router(analyzer=analyzer, kb_url=kb_url))
    router.include_router(kb_editor_router(uow=uow, kb_url=kb_url))
    router.include_router(kpis_router(uow=uow))
    router.include_router(admin_router(uow=uow, retraining=retraining, registry=registry, kb_url=kb_url))
    return router
