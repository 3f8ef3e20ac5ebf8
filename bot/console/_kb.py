"""The console's knowledge-base editor under ``/console/kb``: the article list, the editor with its live preview,
each article's numbers and version history, the gaps, and (admins) publishing and retiring.

Every page reads and every form acts through the editor API's own functions (``bot.web.kb_editor``): the same
parser judges a source, the same renderer as ``/kb`` draws the preview, the same ``require_admin`` refuses an
agent's publish. A published article reaches ``/kb`` at once and the running bot at its next KB refresh (the
``kb_refresh_seconds`` setting), exactly as after the API's publish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from bot.console._kb_views import ArticleFilter, ArticleForm, ArticleListRow, diff_lines, grouped_gaps
from bot.console._pages import PREFIX, ConsoleRoute, Nav, console_principal, form_of, render
from bot.web.auth import Principal, require_admin
from bot.web.errors import ApiError
from bot.web.kb_editor import (
    ArticleRow,
    GapOut,
    GapQuery,
    PreviewOut,
    VersionOut,
    create_draft,
    preview_of,
    publish_article,
    retire_article,
    save_version,
)
from desk import DeskError, DuplicateKey, NotFound, UnitOfWork, knowledge
from desk.domain import ArticleStatus

Signed = Annotated[Principal, Depends(console_principal)]
KB = f"{PREFIX}/kb"
GAP_DAYS = GapQuery.model_fields["days"].default
# The API's largest page of gaps: the page groups that many of the newest.
GAP_ROWS = max(getattr(rule, "le", 0) for rule in GapQuery.model_fields["limit"].metadata)


class FormRefused(Exception):
    """What the API would answer for a form: its status and its message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _attempt(action: Callable[[], object]) -> FormRefused | None:
    """None when ``action`` is done; else what the API would have answered (its status and its message)."""
    try:
        action()
    except FormRefused as exc:
        return exc
    except ApiError as exc:
        return FormRefused(exc.status_code, str(exc.detail))
    except DuplicateKey as exc:
        return FormRefused(409, str(exc))
    except DeskError as exc:
        return FormRefused(404 if isinstance(exc, NotFound) else 400, str(exc))
    return None


def _source_of(form: ArticleForm) -> str:
    missing = form.missing()
    if missing:
        raise FormRefused(422, f"give the article's {', '.join(missing)}")
    return form.source(today=dt.datetime.now(dt.UTC).date())


def kb_router(*, uow: UnitOfWork, kb_url: str) -> APIRouter:
    router = APIRouter(prefix="/kb", route_class=ConsoleRoute, dependencies=[Depends(console_principal)])

    @router.get("")
    def articles(request: Request, principal: Signed) -> Response:
        try:
            wanted, error = ArticleFilter.parse(request.query_params), ""
        except ValueError as exc:
            wanted, error = ArticleFilter(), str(exc)
        with uow() as session:
            every = knowledge.list_articles(session=session, status=wanted.status)
            rows = [ArticleListRow(ArticleRow.of(a, kb_url), knowledge.version_of(a).author) for a in every]
            languages = sorted({a.lang for a in knowledge.list_articles(session=session)})
        shown = [r for r in rows if wanted.keeps(r.article)]
        return render(request, "kb_list.html", principal=principal, nav=Nav.KB, rows=shown, wanted=wanted,
                      statuses=list(ArticleStatus), languages=languages, error=error, status=422 if error else 200)

    def editor(request: Request, principal: Principal, *, form: ArticleForm, article: ArticleRow | None,
               error: str = "", status: int = 200) -> Response:
        preview: PreviewOut | None = None
        if not form.missing():
            try:
                preview = preview_of(uow=uow, source=form.source(today=dt.datetime.now(dt.UTC).date()))
            except ApiError as exc:
                error = error or str(exc.detail)
        return render(request, "kb_edit.html", principal=principal, nav=Nav.KB, form=form, article=article,
                      preview=preview, error=error, status=status)

    @router.get("/new")
    def new_article(request: Request, principal: Signed) -> Response:
        return editor(request, principal, form=ArticleForm(body="## Steps\n1. \n"), article=None)

    def create(request: Request, principal: Principal, form: ArticleForm) -> Response:
        refused = _attempt(lambda: create_draft(uow=uow, source=_source_of(form), note=form.note, author=principal,
                                                kb_url=kb_url))
        if refused is not None:
            return editor(request, principal, form=form, article=None, error=f"Not saved: {refused}.",
                          status=refused.status)
        return RedirectResponse(f"{KB}/articles/{form.id}", status_code=303)

    @router.post("/new")
    async def create_article(request: Request, principal: Signed) -> Response:
        form = ArticleForm.from_fields(await form_of(request))
        return await run_in_threadpool(create, request, principal, form)

    def preview(request: Request, form: ArticleForm) -> Response:
        try:
            shown = preview_of(uow=uow, source=_source_of(form))
        except ApiError as exc:
            return render(request, "kb_preview.html", preview=None, error=str(exc.detail), status=exc.status_code)
        except FormRefused as exc:
            return render(request, "kb_preview.html", preview=None, error=str(exc), status=exc.status)
        return render(request, "kb_preview.html", preview=shown, error="")

    @router.post("/preview")
    async def preview_fragment(request: Request, principal: Signed) -> Response:
        """The editor's fields rendered as the /kb page will show them, for the editor's script (nothing saved)."""
        form = ArticleForm.from_fields(await form_of(request))
        return await run_in_threadpool(preview, request, form)

    def article_page(request: Request, principal: Principal, article_id: str, *, error: str = "",
                     status: int = 200) -> Response:
        with uow() as session:
            found = knowledge.get_article(session=session, article_id=article_id)
            row = ArticleRow.of(found, kb_url)
            versions = [VersionOut.of(v) for v in knowledge.history(session=session, article_id=found.id)]
        return render(request, "kb_article.html", principal=principal, nav=Nav.KB, article=row, stats=row.stats,
                      versions=versions, error=error, status=status)

    @router.get("/articles/{article_id}")
    def article(request: Request, article_id: str, principal: Signed) -> Response:
        return article_page(request, principal, article_id)

    @router.get("/articles/{article_id}/edit")
    def edit_article(request: Request, article_id: str, principal: Signed) -> Response:
        with uow() as session:
            found = knowledge.get_article(session=session, article_id=article_id)
            row, source = ArticleRow.of(found, kb_url), knowledge.version_of(found).source
        return editor(request, principal, form=ArticleForm.from_source(source), article=row)

    def save(request: Request, principal: Principal, article_id: str, form: ArticleForm) -> Response:
        with uow() as session:
            row = ArticleRow.of(knowledge.get_article(session=session, article_id=article_id), kb_url)
        refused = _attempt(lambda: save_version(uow=uow, article_id=row.id, source=_source_of(form), note=form.note,
                                                author=principal, kb_url=kb_url))
        if refused is not None:
            return editor(request, principal, form=form, article=row, error=f"Not saved: {refused}.",
                          status=refused.status)
        return RedirectResponse(f"{KB}/articles/{row.id}", status_code=303)

    @router.post("/articles/{article_id}/edit")
    async def save_article(request: Request, article_id: str, principal: Signed) -> Response:
        form = ArticleForm.from_fields(await form_of(request))
        return await run_in_threadpool(save, request, principal, article_id, form)

    @router.get("/articles/{article_id}/versions/{number}")
    def version(request: Request, article_id: str, number: int, principal: Signed) -> Response:
        """One version's text, and what it changed from the one before."""
        with uow() as session:
            found = knowledge.get_article(session=session, article_id=article_id)
            row = ArticleRow.of(found, kb_url)
            shown = VersionOut.of(knowledge.version_of(found, number))
            before = VersionOut.of(knowledge.version_of(found, number - 1)) if number > 1 else None
        changes = diff_lines(before.source if before else "", shown.source)
        return render(request, "kb_version.html", principal=principal, nav=Nav.KB, article=row, version=shown,
                      before=before, changes=changes)

    def go_live(request: Request, principal: Principal, article_id: str,
                change: Callable[..., ArticleRow]) -> Response:
        refused = _attempt(lambda: change(uow=uow, article_id=article_id, admin=require_admin(principal),
                                          kb_url=kb_url))
        if refused is not None:
            return article_page(request, principal, article_id, error=f"Not done: {refused}.",
                                status=refused.status)
        return RedirectResponse(f"{KB}/articles/{article_id}", status_code=303)

    @router.post("/articles/{article_id}/publish")
    def publish(request: Request, article_id: str, principal: Signed) -> Response:
        """Admins only (the API's ``require_admin``): the newest version goes live."""
        return go_live(request, principal, article_id, publish_article)

    @router.post("/articles/{article_id}/retire")
    def retire(request: Request, article_id: str, principal: Signed) -> Response:
        """Admins only: withdrawn from /kb and from the bot's answers."""
        return go_live(request, principal, article_id, retire_article)

    @router.get("/gaps")
    def gaps(request: Request, principal: Signed) -> Response:
        """What requesters asked that no article answered, most frequent first: the next articles to write."""
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=GAP_DAYS)
        with uow() as session:
            rows = [GapOut.of(g) for g in knowledge.gaps(session=session, since=since, limit=GAP_ROWS)]
        return render(request, "kb_gaps.html", principal=principal, nav=Nav.KB, groups=grouped_gaps(rows),
                      days=GAP_DAYS, counted=len(rows), limit=GAP_ROWS)

    return router

