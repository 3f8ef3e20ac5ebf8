"""The admin pages of where and how fast tickets go, and of what failed on the way: routing rules, SLA policies,
dead letters (with their retry) and the admin audit.

Each form is validated by the API's body and made by the same ``desk.administration`` function as
``/api/v1/admin``, in the signed-in admin's name; the lists are the API's models of the same queries.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from bot.console._admin_forms import NOTHING_POSTED, Admin, AdminRoute, Posted, Refusal, Section, admin_page, attempt
from bot.console._pages import PREFIX
from bot.web.admin_people import AdminAuditOut, RuleBody, RuleOut, SlaBody, SlaOut
from bot.web.admin_queues import InboundLetter, OutboundLetter
from bot.web.auth import Principal
from desk import Level, Priority, TicketType, UnitOfWork, administration, people, queue, routing, sla, tickets
from desk.taxonomy import UnknownIntent, packaged_taxonomy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ROUTING = f"{PREFIX}/admin/routing"
SLA = f"{PREFIX}/admin/sla"
DEAD_LETTERS = f"{PREFIX}/admin/dead-letters"


class Letters(enum.StrEnum):
    """The two dead-letter queues, as the API's paths name them."""

    INBOX = "inbox"
    OUTBOX = "outbox"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def queues_pages(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(route_class=AdminRoute)

    # --- routing rules ------------------------------------------------------------------------------------

    def routing_page(request: Request, principal: Principal, *, refusal: Refusal | None = None,
                     entered: Posted = NOTHING_POSTED, failed: str = "") -> Response:
        with uow() as session:
            rules = {r.intent: RuleOut.of(r) for r in routing.list_rules(session=session)}
            groups = [g.name for g in people.list_groups(session=session)]
        intents = [spec.intent for spec in packaged_taxonomy().routed()]
        return admin_page(request, "admin_routing.html", principal=principal, section=Section.ROUTING,
                          intents=intents, rules=rules, groups=groups, ticket_types=list(TicketType),
                          urgencies=list(Level), refusal=refusal, entered=entered, failed=failed)

    @router.get("/routing")
    def rules(request: Request, principal: Admin) -> Response:
        return routing_page(request, principal)

    @router.post("/routing/{intent}")
    async def set_rule(request: Request, intent: str, principal: Admin) -> Response:
        posted = await Posted.of(request)
        try:
            packaged_taxonomy().routable(intent)
        except UnknownIntent as exc:  # as the API answers an intent it cannot route: the path is wrong, 422
            refusal = Refusal(422, Refusal.of(exc).message)
            return await run_in_threadpool(routing_page, request, principal, refusal=refusal)

        def change(session: Session) -> None:
            body = RuleBody.model_validate(posted.given("group", "ticket_type", "urgency"))
            administration.set_routing_rule(session=session, actor=principal.actor, intent=intent, group=body.group,
                                            ticket_type=body.ticket_type, urgency=body.urgency, now=_now())

        refusal = await run_in_threadpool(attempt, uow, change)
        if refusal is not None:
            return await run_in_threadpool(routing_page, request, principal, refusal=refusal, entered=posted,
                                           failed=intent)
        return RedirectResponse(f"{ROUTING}#rule-{intent}", status_code=303)

    # --- SLA policies -------------------------------------------------------------------------------------

    def sla_page(request: Request, principal: Principal, *, refusal: Refusal | None = None,
                 entered: Posted = NOTHING_POSTED, failed: str = "") -> Response:
        with uow() as session:
            policies = [SlaOut.of(p) for p in sla.list_policies(session=session)]
        return admin_page(request, "admin_sla.html", principal=principal, section=Section.SLA, policies=policies,
                          refusal=refusal, entered=entered, failed=failed)

    @router.get("/sla")
    def policies(request: Request, principal: Admin) -> Response:
        return sla_page(request, principal)

    @router.post("/sla/{priority}")
    async def set_policy(request: Request, priority: str, principal: Admin) -> Response:
        posted = await Posted.of(request)
        if priority not in {p.value for p in Priority}:
            known = ", ".join(p.value for p in Priority)
            return await run_in_threadpool(sla_page, request, principal, refusal=Refusal(
                404, f"Not saved: there is no priority {priority!r} (priorities: {known})."))

        def change(session: Session) -> None:
            body = SlaBody.model_validate({**posted.given("first_response_minutes", "resolution_minutes"),
                                           "around_the_clock": bool(posted.value("around_the_clock"))})
            administration.set_sla_policy(session=session, actor=principal.actor, priority=Priority(priority),
                                          first_response_minutes=body.first_response_minutes,
                                          resolution_minutes=body.resolution_minutes,
                                          around_the_clock=body.around_the_clock, now=_now())

        refusal = await run_in_threadpool(attempt, uow, change)
        if refusal is not None:
            return await run_in_threadpool(sla_page, request, principal, refusal=refusal, entered=posted,
                                           failed=priority)
        return RedirectResponse(SLA, status_code=303)

    # --- dead letters -------------------------------------------------------------------------------------

    def dead_letters_page(request: Request, principal: Principal, *, refusal: Refusal | None = None) -> Response:
        with uow() as session:
            inbound = [InboundLetter.of(r) for r in queue.failed_inbound(session=session)]
            failed_outbound = queue.failed_outbound(session=session)
            outbound = [OutboundLetter.of(r) for r in failed_outbound]
            ticket_numbers = {r.id: tickets.get_ticket_by_id(session=session, ticket_id=r.ticket_id).number
                              for r in failed_outbound if r.ticket_id is not None}
        return admin_page(request, "admin_dead_letters.html", principal=principal, section=Section.DEAD_LETTERS,
                          inbound=inbound, outbound=outbound, ticket_numbers=ticket_numbers, refusal=refusal)

    @router.get("/dead-letters")
    def dead_letters(request: Request, principal: Admin) -> Response:
        return dead_letters_page(request, principal)

    @router.post("/dead-letters/{letters}/{row_id}/retry")
    def retry(request: Request, letters: Letters, row_id: int, principal: Admin) -> Response:
        retry_row = administration.retry_inbound if letters is Letters.INBOX else administration.retry_outbound
        refusal = attempt(uow, lambda session: retry_row(session=session, actor=principal.actor, row_id=row_id,
                                                         now=_now()))
        if refusal is not None:
            return dead_letters_page(request, principal, refusal=refusal)
        return RedirectResponse(DEAD_LETTERS, status_code=303)

    # --- the admin audit ----------------------------------------------------------------------------------

    @router.get("/audit")
    def audit(request: Request, principal: Admin) -> Response:
        with uow() as session:
            entries = [AdminAuditOut.of(e) for e in administration.admin_log(session=session)]
        return admin_page(request, "admin_audit.html", principal=principal, section=Section.AUDIT, entries=entries)

    return router
