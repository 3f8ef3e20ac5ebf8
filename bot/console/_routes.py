"""The console's routes under ``/console``: sign-in and sign-out, the queues (and the rows they poll), a ticket's
page and every agent action on it as a form.

Each page reads through the API's queries (``desk.ticket_queries``, ``bot.web.tickets.detail_of``) and each
action is the API's (``bot.web.tickets.act_on_ticket`` over the agent service layer), so the console sees and
does exactly what the API lets the same user see and do, and the audit trail names them.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from bot import agents
from bot.console._admin import admin_router
from bot.console._models import models_router
from bot.console._kpis import kpis_router
from bot.console._kb import kb_router
from bot.console._pages import CSRF_FIELD, PREFIX, ConsoleRoute, Nav, console_principal, form_of, render, safe_next
from bot.console._views import CHANNEL_LABELS, Queue, QueueRequest, QueueRow, SlaClock, SortKey, sorted_rows
from bot.web.api import Credentials
from bot.web.auth import Principal, authenticator_of
from bot.web.errors import ApiError
from bot.web.ticket_models import (
    AssignBody,
    IntentBody,
    MergeBody,
    PriorityBody,
    ProblemBody,
    StatusBody,
    TextBody,
)
from bot.web.tickets import AnalyzerSource, act_on_ticket, detail_of, known_intents, send_on_ticket, viewer_of
from desk import DeskError, Priority, ResolutionCode, UnitOfWork, people, ticket_queries, tickets
from desk.domain import TRANSITIONS, InvalidTransition, SlaState, Status
from desk.ticket_queries import InvalidFilter

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.retraining import Retraining
    from desk.models import Ticket
    from nlp.registry import ModelRegistry

STATIC = Path(__file__).with_name("static")
_STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript", "models.js": "text/javascript",
                 "kb_editor.js": "text/javascript"}
SIGN_IN_COOKIE = "deskbot_console_signin"  # the sign-in form's own CSRF token, before any session exists
Signed = Annotated[Principal, Depends(console_principal)]


@dataclass(frozen=True)
class ArticleOffer:
    """A suggested article and what "insert into reply" puts in the reply box."""

    id: str
    title: str
    section: str
    score: float
    url: str
    insert: str


def console_router(*, uow: UnitOfWork, analyzer: AnalyzerSource, kb_url: str,
                   retraining: Retraining, registry: ModelRegistry) -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
    signed = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(console_principal)])

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        response = FileResponse(STATIC / name, media_type=_STATIC_FILES[name])
        response.headers["Cache-Control"] = "no-cache"  # revalidated (ETag): a new release shows at once
        return response

    @router.get("/signin")
    def sign_in_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the page's parameter
        return _sign_in_form(request, next_path=safe_next(next))

    @router.post("/signin")
    async def sign_in(request: Request) -> Response:
        form = await form_of(request)
        next_path, username, password = safe_next(form.get("next")), form.get("username", ""), form.get("password", "")
        expected = request.cookies.get(SIGN_IN_COOKIE, "")
        if not expected or not hmac.compare_digest(expected, form.get(CSRF_FIELD, "")):
            return _sign_in_form(request, next_path=next_path, status=403,
                                 error="This sign-in form has expired: please sign in again.")
        try:
            credentials = Credentials(username=username, password=password)
        except ValidationError:
            return _sign_in_form(request, next_path=next_path, status=422, username=username[:64],
                                 error="Give your username and your password.")
        response = RedirectResponse(next_path, status_code=303)
        try:
            # A worker thread: the password hash takes a while and must not hold the event loop.
            await run_in_threadpool(authenticator_of(request).sign_in, username=credentials.username,
                                    password=credentials.password, response=response,
                                    ip=request.client.host if request.client else "")
        except ApiError as exc:
            return _sign_in_form(request, next_path=next_path, status=exc.status_code, username=username,
                                 error=f"{str(exc.detail).capitalize()}.", headers=exc.headers)
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    @signed.post("/signout")
    def sign_out(request: Request) -> Response:
        response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
        authenticator_of(request).sign_out(request=request, response=response)
        return response

    def queue_rows(request: Request, principal: Principal) -> tuple[QueueRequest | None, list[QueueRow], bool, str]:
        """The page's queue (None when its query is bad), its rows, whether more matched, and what was wrong."""
        try:
            asked = QueueRequest.parse({k: request.query_params.getlist(k) for k in request.query_params})
        except ValueError as exc:
            return None, [], False, str(exc)
        with uow() as session:
            try:
                page = ticket_queries.search_tickets(session=session, viewer=viewer_of(principal),
                                                     wanted=asked.ticket_filter(principal), limit=asked.query.limit)
            except InvalidFilter as exc:
                return asked, [], False, str(exc)
            rows = [QueueRow.of(t) for t in page.tickets]
        return asked, sorted_rows(rows, key=asked.sort, descending=asked.descending), page.next is not None, ""

    @signed.get("/")
    def queues(request: Request, principal: Signed) -> Response:
        asked, rows, more, error = queue_rows(request, principal)
        with uow() as session:
            groups = [g.name for g in people.list_groups(session=session)]
        return render(request, "queue.html", principal=principal, nav=Nav.QUEUES, asked=asked, rows=rows, more=more,
                      error=error, queues=list(Queue), columns=_COLUMNS, statuses=list(Status),
                      priorities=list(Priority), sla_states=list(SlaState), channels=CHANNEL_LABELS, groups=groups,
                      query=request.url.query, status=422 if error else 200)

    @signed.get("/queue/rows")
    def rows_fragment(request: Request, principal: Signed) -> Response:
        """The queue's rows alone, for the page's script to poll (server-rendered like the page)."""
        asked, rows, more, error = queue_rows(request, principal)
        return render(request, "_rows.html", principal=principal, rows=rows, error=error, channels=CHANNEL_LABELS,
                      status=422 if error else 200)

    def ticket_page(request: Request, principal: Principal, number: int, *, error: str = "",
                    status: int = 200) -> Response:
        source = analyzer()
        with uow() as session:
            viewer = viewer_of(principal)
            ticket = ticket_queries.visible_ticket(session=session, number=number, viewer=viewer)
            detail = detail_of(session=session, ticket=ticket, viewer=viewer, analyzer=source, kb_url=kb_url)
            where = agents.requester_ref(session=session, ticket=ticket)
            clock = SlaClock.of(ticket)
            members = sorted((u.username for u in (ticket.group.members if ticket.group else []) if u.active))
        offers = []
        for article in detail.suggested_articles or []:
            found = source.kb.articles.get(article.id) if source is not None else None
            steps = found.steps.strip() if found is not None else ""
            offers.append(ArticleOffer(id=article.id, title=article.title, section=article.section,
                                       score=article.score, url=article.url,
                                       insert=f"{article.title}\n\n{steps}\n\nMore: {article.url}".strip()))
        return render(request, "ticket.html", principal=principal, nav=Nav.QUEUES, t=detail, clock=clock,
                      reply_channel=CHANNEL_LABELS.get(where[1].channel, where[1].channel) if where else None,
                      members=members, intents=sorted(known_intents()), offers=offers, error=error,
                      next_statuses=sorted(TRANSITIONS[detail.status], key=list(Status).index),
                      priorities=list(Priority), resolution_codes=list(ResolutionCode), channels=CHANNEL_LABELS,
                      status=status)

    @signed.get("/tickets/{number}")
    def ticket_view(request: Request, number: int, principal: Signed) -> Response:
        return ticket_page(request, principal, number)

    def perform(request: Request, principal: Principal, number: int, action: str, fields: dict[str, str]) -> Response:
        found = _ACTIONS.get(action)
        if found is None:
            return ticket_page(request, principal, number, error=f"There is no action {action!r}.", status=404)
        model, run = found
        try:
            body = model.model_validate(fields)
        except ValidationError as exc:
            wrong = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors()[:3])
            return ticket_page(request, principal, number, error=f"Not done ({wrong}).", status=422)
        try:
            goes_to = run(uow, number, principal, body)
        except InvalidTransition as exc:
            return ticket_page(request, principal, number, error=f"Not done: {exc}", status=409)
        except DeskError as exc:  # NotFound included: the ticket named in the form, as the API says it
            return ticket_page(request, principal, number, error=f"Not done: {exc}", status=400)
        return RedirectResponse(f"{PREFIX}/tickets/{goes_to}", status_code=303)

    @signed.post("/tickets/{number}/{action}")
    async def ticket_action(request: Request, number: int, action: str, principal: Signed) -> Response:
        fields = {k: v for k, v in (await form_of(request)).items() if k != CSRF_FIELD and v.strip()}
        return await run_in_threadpool(perform, request, principal, number, action, fields)

    router.include_router(signed)
    router.include_router(admin_router(uow=uow))
    router.include_router(models_router(uow=uow, retraining=retraining, registry=registry))
    router.include_router(kpis_router(uow=uow))
    router.include_router(kb_router(uow=uow, kb_url=kb_url))
    return router


def _sign_in_form(request: Request, *, next_path: str, status: int = 200, error: str = "", username: str = "",
                  headers: dict[str, str] | None = None) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "signin.html", status=status, error=error, username=username, next=next_path,
                      signin_token=token)
    response.set_cookie(SIGN_IN_COOKIE, token, path=PREFIX, httponly=True, samesite="lax",
                        secure=authenticator_of(request).policy.secure_cookies)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_COLUMNS = [(SortKey.NUMBER, "#"), (SortKey.SUBJECT, "Subject"), (SortKey.REQUESTER, "Requester"),
            (SortKey.CHANNEL, "Channel"), (SortKey.PRIORITY, "Priority"), (SortKey.STATUS, "Status"),
            (SortKey.DUE, "SLA due"), (SortKey.UPDATED, "Updated")]


# --- the actions: the API's bodies, the service layer's functions ---------------------------------------------

Action = Callable[[UnitOfWork, int, Principal, BaseModel], int]  # -> the ticket to show next


def _acting(call: Callable[[Session, agents.Actor, dt.datetime, BaseModel, int], Ticket]) -> Action:
    def run(uow: UnitOfWork, number: int, principal: Principal, body: BaseModel) -> int:
        also = tuple(v for k, v in body.model_dump().items() if k in ("problem", "into"))
        return act_on_ticket(uow=uow, number=number, principal=principal, also_visible=also,
                             action=lambda session, by, now: call(session, by, now, body, number)).number
    return run


def _reply(uow: UnitOfWork, number: int, principal: Principal, body: BaseModel) -> int:
    assert isinstance(body, TextBody)

    def write(session: Session, by: agents.Actor, now: dt.datetime) -> int:
        row = agents.reply(session=session, number=number, by=by, text=body.text, now=now)
        assert row is not None  # without a key every reply is a new one
        return row.id

    send_on_ticket(uow=uow, number=number, principal=principal, action=write)
    return number


def _note(session: Session, by: agents.Actor, now: dt.datetime, body: BaseModel, number: int) -> Ticket:
    assert isinstance(body, TextBody)
    agents.note(session=session, number=number, by=by, text=body.text, now=now, channel="console")
    return tickets.get_ticket(session=session, number=number)


_ACTIONS: dict[str, tuple[type[BaseModel], Action]] = {
    "reply": (TextBody, _reply),
    "notes": (TextBody, _acting(_note)),
    "assign": (AssignBody, _acting(lambda session, by, now, body, number: agents.assign(
        session=session, number=number, by=by, to=body.to, now=now))),  # type: ignore[attr-defined]
    "status": (StatusBody, _acting(lambda session, by, now, body, number: agents.set_status(
        session=session, number=number, by=by, status=body.status,  # type: ignore[attr-defined]
        resolution_code=body.resolution_code, now=now))),  # type: ignore[attr-defined]
    "priority": (PriorityBody, _acting(lambda session, by, now, body, number: agents.set_priority(
        session=session, number=number, by=by, priority=body.priority, now=now))),  # type: ignore[attr-defined]
    "link-problem": (ProblemBody, _acting(lambda session, by, now, body, number: agents.link_to_problem(
        session=session, number=number, problem=body.problem, by=by, now=now))),  # type: ignore[attr-defined]
    "merge": (MergeBody, _acting(lambda session, by, now, body, number: agents.merge(
        session=session, number=number, into=body.into, by=by, now=now))),  # type: ignore[attr-defined]
    "intent": (IntentBody, _acting(lambda session, by, now, body, number: agents.confirm_intent(
        session=session, number=number, by=by, intent=body.intent, known=known_intents(),  # type: ignore[attr-defined]
        now=now))),
}
