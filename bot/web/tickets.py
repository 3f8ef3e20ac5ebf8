"""``/api/v1/tickets``: the list, one ticket's whole story, and every agent action as a POST.

These routes sit inside ``api_router`` (so ``signed_in`` runs first) and decide nothing themselves: who may
see a ticket is ``desk.ticket_queries``' job (a ticket the caller may not see is a 404, word for word the
one a missing ticket gets, so that numbers do not leak), and every change is a call of the agent service
layer (``bot.agents``) in the signed-in user's name, so the audit trail names them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header, Query

from bot import agents
from bot.web.auth import Principal, signed_in
from bot.web.errors import ApiError, ErrorCode
from bot.web.ticket_models import (
    Analysis,
    ArticleBody,
    AssignBody,
    AuditOut,
    CsatBody,
    IntentBody,
    MergeBody,
    MessageOut,
    PriorityBody,
    ProblemBody,
    Reading,
    Sent,
    StatusBody,
    SuggestedArticle,
    TextBody,
    TicketDetail,
    TicketPage,
    TicketQuery,
    TicketRef,
    TicketSummary,
    decode_cursor,
    encode_cursor,
)
from desk import AuthorKind, Direction, UnitOfWork, people, ticket_queries, tickets
from desk.ticket_queries import InvalidFilter, Viewer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from collections.abc import Sequence

    from desk.models import Message, OutboxRow, Ticket
    from nlp import Analyzer

SignedIn = Annotated[Principal, Depends(signed_in)]
# An agent action on a ticket: the session, who acts, now -> the ticket it leaves.
TicketAction = Callable[["Session", agents.Actor, dt.datetime], "Ticket"]
IDEMPOTENCY_HEADER = "Idempotency-Key"
IdempotencyKey = Annotated[str | None, Header(
    alias=IDEMPOTENCY_HEADER, min_length=1, max_length=128,
    description="the same key again (a retry) queues nothing new and answers as the first time")]
# The analyzer of this process, or None when the NLP is not loaded (the API works without it).
AnalyzerSource = Callable[[], "Analyzer | None"]
SUGGESTIONS = 3
# How the bot's worker (bot.worker) starts the note in which it stores each decision and its reasons.
DECISION_PREFIX = "decision "


def known_intents() -> frozenset[str]:
    """What an agent may say a ticket was about."""
    from bot.policy import labels

    return labels()


def viewer_of(principal: Principal) -> Viewer:
    return Viewer(user_id=principal.user_id, sees_everything=principal.is_admin)


def tickets_router(*, uow: UnitOfWork, analyzer: AnalyzerSource, kb_url: str) -> APIRouter:
    router = APIRouter(prefix="/tickets", tags=["tickets"])

    @router.get("", response_model=TicketPage)
    def list_tickets(principal: SignedIn, query: Annotated[TicketQuery, Query()]) -> TicketPage:
        """The tickets the caller may see, newest first, filtered; follow ``next_cursor`` for the next page."""
        after = None
        if query.cursor is not None:
            after = decode_cursor(query.cursor)
            if after is None:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, "query.cursor: not a cursor this API handed out")
        with uow() as session:
            try:
                page = ticket_queries.search_tickets(session=session, viewer=viewer_of(principal),
                                                     wanted=query.to_filter(), after=after, limit=query.limit)
            except InvalidFilter as exc:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, str(exc)) from exc
            return TicketPage(items=[TicketSummary.of(t) for t in page.tickets],
                              next_cursor=encode_cursor(page.next) if page.next else None)

    @router.get("/{number}", response_model=TicketDetail)
    def ticket_detail(number: int, principal: SignedIn) -> TicketDetail:
        """The ticket, its whole conversation across channels, the bot's reasons, suggested articles, its audit."""
        with uow() as session:
            viewer = viewer_of(principal)
            ticket = ticket_queries.visible_ticket(session=session, number=number, viewer=viewer)
            return detail_of(session=session, ticket=ticket, viewer=viewer, analyzer=analyzer(), kb_url=kb_url)

    def act(number: int, principal: Principal, action: TicketAction, *, also_visible: tuple[int, ...] = ()) -> TicketSummary:
        return act_on_ticket(uow=uow, number=number, principal=principal, action=action, also_visible=also_visible)

    def send(number: int, principal: Principal, action: Callable[[Session, agents.Actor, dt.datetime], int]) -> Sent:
        return send_on_ticket(uow=uow, number=number, principal=principal, action=action)

    @router.post("/{number}/assign", response_model=TicketSummary)
    def assign(number: int, body: AssignBody, principal: SignedIn) -> TicketSummary:
        """To ``to`` (a username), or to the caller."""
        return act(number, principal, lambda session, by, now: agents.assign(
            session=session, number=number, by=by, to=body.to, now=now))

    @router.post("/{number}/reply", response_model=Sent)
    def reply(number: int, body: TextBody, principal: SignedIn, idempotency_key: IdempotencyKey = None) -> Sent:
        """An answer to the requester, signed by the caller, on the requester's own channel. Sent again with the same
        ``Idempotency-Key`` (a retry after a lost answer) it queues nothing and answers as the first time."""
        # Keys are the caller's own, per ticket: another agent's or another ticket's same key is another reply.
        key = None if idempotency_key is None else f"api-reply:{principal.username}:{number}:{idempotency_key}"

        def write(session: Session, by: agents.Actor, now: dt.datetime) -> int:
            row = agents.reply(session=session, number=number, by=by, text=body.text, now=now, key=key)
            if row is not None:
                return row.id
            assert key is not None and idempotency_key is not None  # without a key every call is a new answer
            return _earlier_reply(session=session, key=key, text=body.text, idempotency_key=idempotency_key)

        return send(number, principal, write)

    @router.post("/{number}/notes", response_model=TicketSummary)
    def add_note(number: int, body: TextBody, principal: SignedIn) -> TicketSummary:
        """An internal note: agents see it, the requester never does."""
        def write(session: Session, by: agents.Actor, now: dt.datetime) -> Ticket:
            agents.note(session=session, number=number, by=by, text=body.text, now=now, channel="api")
            return tickets.get_ticket(session=session, number=number)

        return act(number, principal, write)

    @router.post("/{number}/status", response_model=TicketSummary)
    def set_status(number: int, body: StatusBody, principal: SignedIn) -> TicketSummary:
        return act(number, principal, lambda session, by, now: agents.set_status(
            session=session, number=number, by=by, status=body.status, resolution_code=body.resolution_code, now=now))

    @router.post("/{number}/priority", response_model=TicketSummary)
    def set_priority(number: int, body: PriorityBody, principal: SignedIn) -> TicketSummary:
        return act(number, principal, lambda session, by, now: agents.set_priority(
            session=session, number=number, by=by, priority=body.priority, now=now))

    @router.post("/{number}/link-problem", response_model=TicketSummary)
    def link_problem(number: int, body: ProblemBody, principal: SignedIn) -> TicketSummary:
        return act(number, principal, lambda session, by, now: agents.link_to_problem(
            session=session, number=number, problem=body.problem, by=by, now=now), also_visible=(body.problem,))

    @router.post("/{number}/merge", response_model=TicketSummary)
    def merge(number: int, body: MergeBody, principal: SignedIn) -> TicketSummary:
        """This ticket duplicates ``into``: its conversation moves there and it is resolved. Answers ``into``."""
        return act(number, principal, lambda session, by, now: agents.merge(
            session=session, number=number, into=body.into, by=by, now=now), also_visible=(body.into,))

    @router.post("/{number}/send-article", response_model=Sent)
    def send_article(number: int, body: ArticleBody, principal: SignedIn) -> Sent:
        """The article's steps to the requester, asking whether they solved it."""
        source = analyzer()
        if source is None:
            raise ApiError(503, ErrorCode.NLP_UNAVAILABLE, "the knowledge base is not loaded in this process")
        article = source.kb.articles.get(body.article_id)
        if article is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"there is no article {body.article_id} in the knowledge base")
        return send(number, principal, lambda session, by, now: _queued(agents.send_article(
            session=session, number=number, by=by, article=article, url=f"{kb_url}/{article.id}", now=now)))

    @router.post("/{number}/intent", response_model=TicketSummary)
    def confirm_intent(number: int, body: IntentBody, principal: SignedIn) -> TicketSummary:
        """What the ticket was really about: the next 'deskbot nlp train' learns it."""
        return act(number, principal, lambda session, by, now: agents.confirm_intent(
            session=session, number=number, by=by, intent=body.intent, known=known_intents(), now=now))

    @router.post("/{number}/csat", response_model=TicketSummary)
    def record_csat(number: int, body: CsatBody, principal: SignedIn) -> TicketSummary:
        """The requester's satisfaction (1 to 5) on a resolved ticket, as they told the caller."""
        return act(number, principal, lambda session, by, now: agents.record_csat(
            session=session, number=number, score=body.score, by=by, now=now))

    return router


def act_on_ticket(*, uow: UnitOfWork, number: int, principal: Principal, action: TicketAction,
                  also_visible: tuple[int, ...] = ()) -> TicketSummary:
    """Run ``action`` as the signed-in user on a ticket they may see (and on the other tickets it names): the API's
    and the console's way to act."""
    with uow() as session:
        viewer = viewer_of(principal)
        for each in (number, *also_visible):
            ticket_queries.visible_ticket(session=session, number=each, viewer=viewer)
        actor = agents.Actor.of(people.get_user(session=session, username=principal.username))
        return TicketSummary.of(action(session, actor, dt.datetime.now(dt.UTC)))


def send_on_ticket(*, uow: UnitOfWork, number: int, principal: Principal,
                   action: Callable[[Session, agents.Actor, dt.datetime], int]) -> Sent:
    """Like ``act_on_ticket`` for an action that queues a message to the requester (``action`` answers its id)."""
    with uow() as session:
        ticket = ticket_queries.visible_ticket(session=session, number=number, viewer=viewer_of(principal))
        actor = agents.Actor.of(people.get_user(session=session, username=principal.username))
        outbox_id = action(session, actor, dt.datetime.now(dt.UTC))
        return Sent(outbox_id=outbox_id, ticket=TicketSummary.of(ticket))


def _earlier_reply(*, session: Session, key: str, text: str, idempotency_key: str) -> int:
    """The outbox row of the reply first sent with ``key``, which must have said the same."""
    before = agents.answered_before(session=session, key=key)
    assert before is not None  # agents.reply found the key taken: by this answer, in the same transaction
    message, row = before
    if message.text != text.strip():
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       f"{IDEMPOTENCY_HEADER} {idempotency_key!r} was used for another reply to this ticket: "
                       "a new reply needs a new key")
    return row.id


def _queued(row: OutboxRow | None) -> int:
    # Without an idempotency key every call is a new message, so there is always a row.
    assert row is not None
    return row.id


def detail_of(*, session: Session, ticket: Ticket, viewer: Viewer, analyzer: Analyzer | None, kb_url: str) -> TicketDetail:
    """One ticket's whole story as ``viewer`` may see it (the API's detail, and what the console shows)."""
    messages = tickets.thread(session=session, ticket=ticket)
    authors = ticket_queries.author_usernames(session=session, messages=messages)
    conversation = [MessageOut.of(m, authors) for m in messages]
    decisions = [out for m, out in zip(messages, conversation) if _is_decision(m)]
    reading, suggestions = _latest_reading(ticket, messages, analyzer, kb_url)
    others = ticket_queries.tickets_of_requester(session=session, requester_id=ticket.requester_id, viewer=viewer,
                                                 besides=ticket.id)
    return TicketDetail(
        **TicketSummary.of(ticket).model_dump(),
        description=ticket.description, impact=ticket.impact, urgency=ticket.urgency,
        resolution_code=ticket.resolution_code, csat_score=ticket.csat_score,
        problem=ticket.parent.number if ticket.parent else None, tags=tickets.tags_of(session=session, ticket=ticket),
        analysis=Analysis(intent=ticket.intent, confirmed_intent=ticket.confirmed_intent, decisions=decisions,
                          latest=reading),
        suggested_articles=suggestions,
        conversation=conversation, audit=[AuditOut.of(e) for e in tickets.audit_trail(session=session, ticket=ticket)],
        requester_tickets=[TicketRef(number=t.number, subject=t.subject, status=t.status) for t in others])


def _is_decision(message: Message) -> bool:
    return (message.direction is Direction.NOTE and message.author_kind is AuthorKind.BOT
            and message.text.startswith(DECISION_PREFIX))


def _latest_reading(ticket: Ticket, messages: Sequence[Message], analyzer: Analyzer | None,
                    kb_url: str) -> tuple[Reading | None, list[SuggestedArticle] | None]:
    """What the NLP reads now in the requester's latest message (the subject if they never wrote), and the KB's best
    articles for it; (None, None) without the NLP."""
    if analyzer is None:
        return None, None
    inbound = [m.text for m in messages if m.direction is Direction.INBOUND]
    text = inbound[-1] if inbound else f"{ticket.subject}. {ticket.description}".strip()
    analysis = analyzer.analyze(text)
    reading = Reading(intent=analysis.intent, confidence=analysis.confidence, out_of_scope=analysis.out_of_scope,
                      sentiment=analysis.sentiment, frustration=analysis.frustration, frustrated=analysis.frustrated)
    return reading, [SuggestedArticle(id=h.article_id, title=h.title, section=h.section, score=h.score,
                                      url=f"{kb_url}/{h.article_id}") for h in analysis.kb_hits[:SUGGESTIONS]]
