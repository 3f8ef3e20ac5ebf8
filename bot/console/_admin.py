"""The console's admin section, ``/console/admin/...``: users, groups, routing rules, SLA policies, dead letters and
the admin audit. Admins only (an agent gets a 403 page); every change is the admin API's, in the admin's name."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from bot.console._admin_forms import AdminRoute, console_admin
from bot.console._admin_people import USERS, people_pages
from bot.console._admin_queues import queues_pages
from desk import UnitOfWork


def admin_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=AdminRoute)

    @router.get("", dependencies=[Depends(console_admin)])
    @router.get("/", dependencies=[Depends(console_admin)])
    def home() -> RedirectResponse:
        return RedirectResponse(USERS, status_code=303)

    router.include_router(people_pages(uow=uow))
    router.include_router(queues_pages(uow=uow))
    return router
