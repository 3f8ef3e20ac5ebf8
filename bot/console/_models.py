"""The admin's page of the intent model under ``/console/admin/models``: every version with its metrics, one
version's per-intent table and confusion matrix, activation and rollback, and retraining with its progress and
the guard's verdict.

Thin over the API's ``bot.web.admin_nlp``: the same functions activate, roll back, read a version and count the
agent-confirmed labels, and ``Retraining.start`` starts the job as ``POST /api/v1/admin/retraining`` does. Only
an admin gets here: the API's ``require_admin`` rule, its 403 shown as a page.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from bot.console._admin_forms import Admin, AdminRoute, console_admin
from bot.console._pages import (
    CSRF_FIELD,
    PREFIX,
    Nav,
    form_of,
    render,
)
from bot.retraining import AlreadyRunning
from bot.web.admin_nlp import (
    JobOut,
    ModelOut,
    RetrainBody,
    activate_model,
    confirmed_labels,
    detail_of_model,
    model_error,
    roll_back_model,
)
from bot.web.auth import Principal
from nlp.registry import ModelError

if TYPE_CHECKING:
    from bot.retraining import Retraining
    from desk import UnitOfWork
    from nlp.registry import ModelRegistry

PAGE = f"{PREFIX}/admin/models"
# The headline metrics (a version's and a verdict's), in the order the pages list them.
METRICS = (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("oos_precision", "Out-of-scope precision"),
           ("oos_recall", "Out-of-scope recall"), ("sentiment_accuracy", "Sentiment accuracy"))


class Done(enum.StrEnum):
    """What a form did, for the page it redirects to (which says it from the registry's state, not the URL's)."""

    ACTIVATED = "activated"
    ROLLED_BACK = "rolled-back"
    RETRAINING = "retraining"


def models_router(*, uow: UnitOfWork, retraining: Retraining, registry: ModelRegistry) -> APIRouter:
    router = APIRouter(prefix="/admin/models", route_class=AdminRoute, dependencies=[Depends(console_admin)])

    def latest_job(request: Request) -> JobOut | None:
        newest = retraining.jobs(limit=1)
        return JobOut.of(newest[0], retraining, request) if newest else None

    def notice_of(done: str | None) -> str:
        try:
            did = Done(done or "")
        except ValueError:
            return ""  # no form sent here (or a made-up word): nothing to say
        active = registry.active_version() or "no version"
        match did:
            case Done.ACTIVATED:
                return f"{active} is the active model now: running workers pick it up."
            case Done.ROLLED_BACK:
                return f"Rolled back: {active} is the active model again."
            case Done.RETRAINING:
                return "Retraining has started; it runs in a process of its own and its progress shows below."

    def list_page(request: Request, principal: Principal, *, notice: str = "", error: str = "",
                  status: int = 200) -> Response:
        versions = [ModelOut.of(v, registry, request) for v in reversed(registry.versions())]
        history = registry.activations()
        return render(request, "models.html", principal=principal, nav=Nav.MODELS, versions=versions,
                      active=registry.active_version(), rollback_to=history[-2] if len(history) > 1 else None,
                      labels=confirmed_labels(uow=uow), job=latest_job(request), metrics=METRICS, notice=notice,
                      error=error, page=PAGE, status=status)

    @router.get("")
    def models(request: Request, principal: Admin, done: str | None = None) -> Response:
        return list_page(request, principal, notice=notice_of(done))

    @router.get("/retraining/{job}")
    def job_fragment(request: Request, job: str, principal: Admin) -> Response:
        """The job's progress (or verdict) alone, for the page's script to poll (server-rendered like the page)."""
        state = retraining.state(job)
        if state is None:
            return render(request, "models_job.html", principal=principal, job=None, metrics=METRICS, page=PAGE,
                          missing=job, status=404)
        return render(request, "models_job.html", principal=principal, job=JobOut.of(state, retraining, request),
                      metrics=METRICS, page=PAGE, missing="")

    @router.get("/{version}")
    def version_page(request: Request, version: str, principal: Admin) -> Response:
        try:
            detail = detail_of_model(registry=registry, version=version, request=request)
        except ModelError as exc:
            return list_page(request, principal, error=f"{exc}.", status=model_error(exc).status_code)
        return render(request, "models_version.html", principal=principal, nav=Nav.MODELS, m=detail,
                      metrics=METRICS, page=PAGE)

    @router.post("/rollback")
    def roll_back(request: Request, principal: Admin) -> Response:
        try:
            roll_back_model(uow=uow, registry=registry, actor=principal.actor)
        except ModelError as exc:
            return list_page(request, principal, error=f"Not rolled back: {exc}.",
                             status=model_error(exc).status_code)
        return RedirectResponse(f"{PAGE}?done={Done.ROLLED_BACK}", status_code=303)

    def retrain(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        try:
            body = RetrainBody.model_validate(fields)
        except ValidationError as exc:
            fault = exc.errors()[0]
            return list_page(request, principal, status=422,
                             error=f"Not started: {'.'.join(map(str, fault['loc']))}: {fault['msg']}.")
        try:
            retraining.start(actor=principal.actor, force=body.force)
        except AlreadyRunning as exc:
            return list_page(request, principal, error=f"Not started: {exc}.", status=409)
        return RedirectResponse(f"{PAGE}?done={Done.RETRAINING}", status_code=303)

    @router.post("/retrain")
    async def retrain_form(request: Request, principal: Admin) -> Response:
        fields = {k: v for k, v in (await form_of(request)).items() if k != CSRF_FIELD}
        return await run_in_threadpool(retrain, request, principal, fields)

    @router.post("/{version}/activate")
    def activate(request: Request, version: str, principal: Admin) -> Response:
        try:
            activate_model(uow=uow, registry=registry, actor=principal.actor, version=version)
        except ModelError as exc:
            return list_page(request, principal, error=f"Not activated: {exc}.", status=model_error(exc).status_code)
        return RedirectResponse(f"{PAGE}?done={Done.ACTIVATED}", status_code=303)

    return router

