"""``/api/v1/admin``: every admin route, in one router that runs ``require_admin`` (403 for an agent).

By job: users, groups, routing and SLAs (``admin_people``), dead letters (``admin_queues``), model versions
and retraining (``admin_nlp``), publishing and retiring KB articles (``kb_editor``). None of them checks the role itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends

from bot.web.admin_nlp import nlp_router
from bot.web.admin_people import people_router
from bot.web.admin_queues import queues_router
from bot.web.auth import require_admin
from bot.web.kb_editor import kb_admin_router
from desk import UnitOfWork

if TYPE_CHECKING:
    from bot.retraining import Retraining
    from nlp.registry import ModelRegistry

ADMIN_TAG = "admin"  # every route under /api/v1/admin, and only those, carries it


def admin_router(*, uow: UnitOfWork, retraining: Retraining, registry: ModelRegistry, kb_url: str) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=[ADMIN_TAG], dependencies=[Depends(require_admin)])
    router.include_router(people_router(uow=uow))
    router.include_router(queues_router(uow=uow))
    router.include_router(nlp_router(uow=uow, retraining=retraining, registry=registry))
    router.include_router(kb_admin_router(uow=uow, kb_url=kb_url))
    return router
