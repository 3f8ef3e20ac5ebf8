"""Carrying out the policy's decision for one message: one plain function per ``Action`` (``HANDLERS``), each
making its desk changes and returning the replies (their wording is ``bot.worker._wording``'s). They run
inside the worker's transaction for that message; new tickets reach the groups through the desk's events
(``bot.notices``), with the worker's explanation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot import notices
from bot.conversation import InboundMessage, Reply
from bot.policy import Action, Decision, State, decide, reading_of, thresholds_for
from bot.worker import _wording as say
from bot.worker._major import Reports, known_problem, outage_named
from desk import AuthorKind, Direction, Level, ResolutionCode, Status, TicketType
from desk import conversations, knowledge, tickets
from desk.domain import ACTIVE_STATUSES, ConversationWait, Feedback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.worker_settings import BotSettings
    from desk.departments import Directory
    from desk.models import Conversation, Ticket
    from nlp import Analysis, Analyzer


@dataclass(frozen=True)
class Turn:
    """One message's decision being carried out: what a handler may read and change."""

    session: Session
    message: InboundMessage
    analysis: Analysis
    conversation: Conversation
    requester_id: int
    decision: Decision
    now: dt.datetime
    analyzer: Analyzer
    settings: BotSettings
    directory: Directory
    reports: Reports  # the major-incident window's

    @property
    def kb_url(self) -> str:
        return self.settings.kb_url

    @property
    def lang(self) -> str:
        """The language the requester wrote in: the replies' language."""
        return self.analysis.language


Handler = Callable[[Turn], list[Reply]]


def _open(turn: Turn, *, ticket_type: TicketType | None, intent: str | None, auto_assign: bool = True) -> Ticket:
    text = turn.message.text.strip()
    subject = turn.message.subject or (text.splitlines()[0] if text else "(no text)")
    ticket = tickets.open_ticket(
        session=turn.session, requester_id=turn.requester_id, subject=subject[:120], description=text,
        channel=turn.message.conversation.channel, actor="bot", ticket_type=ticket_type, intent=intent,
        impact=Level(turn.decision.impact or 3), urgency_raise=turn.decision.urgency_raise, auto_assign=auto_assign,
        now=turn.now,
    )
    conversations.attach_ticket(session=turn.session, conversation=turn.conversation, ticket=ticket)
    return ticket


def _article_for_intent(turn: Turn, intent: str | None) -> say.Article | None:
    matches = [a for a in turn.analyzer.kb.articles.values() if intent in a.intents]
    return next((a for a in matches if a.lang == turn.analysis.language), None) or next(iter(matches), None)


def greet(turn: Turn) -> list[Reply]:
    return [Reply(say.GREETING.in_(turn.lang))]


def thank(turn: Turn) -> list[Reply]:
    return [Reply(say.THANKS.in_(turn.lang))]


def ticket_status(turn: Turn) -> list[Reply]:
    return [say.ticket_status(tickets.open_tickets_of(session=turn.session, requester_id=turn.requester_id),
                              turn.lang)]


def open_ticket(turn: Turn) -> list[Reply]:
    ticket = _open(turn, ticket_type=turn.decision.ticket_type, intent=turn.decision.intent)
    problem = _known_problem(turn, ticket)
    if problem is not None:  # one message: the known issue says where the report went
        return [say.known_issue(ticket, problem, turn.lang)]
    return [say.with_ticket(ticket, say.PASSED_ON, turn.lang)]


def _known_problem(turn: Turn, ticket: Ticket) -> Ticket | None:
    return known_problem(session=turn.session, ticket=ticket, vector=turn.analysis.vector, analyzer=turn.analyzer,
                         reports=turn.reports, settings=turn.settings, now=turn.now)


def handoff(turn: Turn) -> list[Reply]:
    ticket = _open(turn, ticket_type=TicketType.INCIDENT, intent=None)
    return [say.with_ticket(ticket, say.HANDED_OFF, turn.lang)]


def security_incident(turn: Turn) -> list[Reply]:
    ticket = _open(turn, ticket_type=TicketType.INCIDENT, intent=turn.decision.intent)
    return [say.security_incident(ticket, _article_for_intent(turn, turn.decision.intent), turn.kb_url, turn.lang)]


def ask_security(turn: Turn) -> list[Reply]:
    conversations.await_security_answer(session=turn.session, conversation=turn.conversation,
                                        intent=turn.decision.intent or "", now=turn.now)
    return [say.security_question(turn.lang)]


def not_security(turn: Turn) -> list[Reply]:
    return [Reply(say.NOT_SECURITY.in_(turn.lang))]


def redirect(turn: Turn) -> list[Reply]:
    department = turn.directory.department(turn.decision.department or "")
    conversations.record_redirect(session=turn.session, conversation=turn.conversation,
                                  key=f"{turn.message.key}:redirect", department=department.name, now=turn.now)
    return [say.redirect(department, turn.lang)]


def answer_from_kb(turn: Turn) -> list[Reply]:
    s, now = turn.session, turn.now
    article = turn.analyzer.kb.articles[turn.decision.article_id]
    ticket = _open(turn, ticket_type=None, intent=turn.decision.intent, auto_assign=False)
    # One more report of a known outage: the article cannot fix it; the report waits with the problem's.
    problem = _known_problem(turn, ticket)
    if problem is not None:
        tickets.ensure_assignee(session=s, number=ticket.number, actor="bot", now=now)
        return [say.known_issue(ticket, problem, turn.lang)]
    tickets.change_status(session=s, number=ticket.number, status=Status.PENDING, actor="bot", now=now)
    tickets.record_first_response(session=s, ticket=ticket, actor="bot", now=now)  # the article is it
    tickets.set_tags(session=s, ticket=ticket, tags=["kb-answer", article.canonical_id], actor="bot", now=now)
    conversations.await_confirmation(session=s, conversation=turn.conversation, article_id=article.id, now=now)
    knowledge.record_feedback(session=s, article_id=article.id, outcome=Feedback.SHOWN)
    return [say.kb_answer(article, turn.kb_url)]


def confirmed_solved(turn: Turn) -> list[Reply]:
    ticket = turn.conversation.ticket
    if ticket is not None and ticket.status in ACTIVE_STATUSES:
        tickets.resolve(session=turn.session, number=ticket.number, actor="requester",
                        resolution_code=ResolutionCode.SELF_SERVICE, now=turn.now)
    knowledge.record_feedback(session=turn.session, article_id=turn.conversation.offered_article,
                              outcome=Feedback.SOLVED)
    conversations.stop_waiting(session=turn.session, conversation=turn.conversation)
    return [Reply(say.SOLVED.in_(turn.lang))]


def not_solved(turn: Turn) -> list[Reply]:
    s, ticket = turn.session, turn.conversation.ticket
    knowledge.record_feedback(session=s, article_id=turn.conversation.offered_article,
                              outcome=Feedback.NOT_SOLVED)
    conversations.stop_waiting(session=s, conversation=turn.conversation)
    if ticket is None or not ticket.status.is_active:
        ticket = _open(turn, ticket_type=None, intent=turn.decision.intent)
    else:
        tickets.escalate(session=s, number=ticket.number, actor="bot", now=turn.now)
    tickets.add_message(session=s, idempotency_key=f"{turn.message.key}:tried", ticket=ticket,
                        conversation=turn.conversation, direction=Direction.NOTE, author_kind=AuthorKind.BOT,
                        channel="bot", text=f"self-service article tried without success: {turn.decision.article_id}",
                        now=turn.now)
    if turn.decision.action is Action.NOT_SOLVED:
        # The message is a "no": the group's notice shows what the NLP reads in the ticket's own text instead.
        analysis = turn.analyzer.analyze_many([ticket.description or ticket.subject])[0]
        notices.explain(s, notices.Why(turn.decision.explain(), analysis, tried_article=turn.decision.article_id))
    return [say.with_ticket(ticket, say.NOT_SOLVED, turn.lang)]


def follow_up(turn: Turn) -> list[Reply]:
    ticket = turn.conversation.ticket
    assert ticket is not None
    if turn.conversation.awaiting is ConversationWait.CONFIRMATION:  # an answer that is neither yes nor no
        return not_solved(turn)
    # A message the new-problem question held back (in no ticket) joins the ticket it turned out to be about.
    conversations.attach_ticket(session=turn.session, conversation=turn.conversation, ticket=ticket)
    if ticket.status is Status.PENDING:
        tickets.change_status(session=turn.session, number=ticket.number, status=Status.OPEN, actor="requester",
                              now=turn.now)
    return [say.follow_up(ticket, turn.lang)]


def resolved_by_requester(turn: Turn) -> list[Reply]:
    ticket = turn.conversation.ticket
    assert ticket is not None
    tickets.resolve(session=turn.session, number=ticket.number, actor="requester",
                    resolution_code=ResolutionCode.REQUESTER, now=turn.now)
    return [say.resolved(ticket, turn.settings.reopen_window.days, turn.lang)]


def reopen(turn: Turn) -> list[Reply]:
    ticket = turn.conversation.ticket
    assert ticket is not None
    tickets.change_status(session=turn.session, number=ticket.number, status=Status.OPEN, actor="requester",
                          reopen_window=turn.settings.reopen_window, now=turn.now)
    tickets.ensure_assignee(session=turn.session, number=ticket.number, actor="bot", now=turn.now)
    return [say.reopened(ticket, turn.lang)]


def ask_new_problem(turn: Turn) -> list[Reply]:
    ticket = turn.conversation.ticket
    assert ticket is not None
    conversations.await_new_problem_answer(session=turn.session, conversation=turn.conversation, now=turn.now)
    return [say.new_problem_question(ticket, turn.lang)]


def new_problem(turn: Turn) -> list[Reply]:
    """The message the question held back is read afresh, as the first of a new problem: the conversation leaves
    its ticket (which keeps its thread) and the policy decides as if nothing were open."""
    held = conversations.held_request(session=turn.session, conversation=turn.conversation)
    conversations.detach_ticket(session=turn.session, conversation=turn.conversation)
    if held is None:  # nothing held (an agent moved it): ask what the new problem is
        return [Reply(say.CLARIFY.in_(turn.lang))]
    analysis = turn.analyzer.analyze_many([held.text])[0]
    reading = reading_of(analysis, text=held.text, articles=turn.analyzer.kb.articles)
    thresholds = thresholds_for(analysis, answer_threshold=turn.settings.answer_threshold,
                                retrieval=turn.settings.retrieval_threshold)
    decision = decide(reading, State(), thresholds, directory=turn.directory)
    return carry_out(replace(turn, message=replace(turn.message, text=held.text, subject="", action=None),
                             analysis=analysis, decision=decision))


def clarify(turn: Turn) -> list[Reply]:
    outage = outage_named(session=turn.session, text=turn.message.text, vector=turn.analysis.vector,
                          requester_id=turn.requester_id, guess=turn.analysis.intent, analyzer=turn.analyzer,
                          reports=turn.reports, settings=turn.settings, now=turn.now)
    if outage is not None:  # what it names is an outage others report: one more report, not a question back
        notices.explain(turn.session, notices.Why(
            f"{turn.decision.explain()}; but it names the outage others report ({outage}): one more report of it",
            turn.analysis))
        return open_ticket(replace(turn, decision=replace(turn.decision, action=Action.OPEN_TICKET, intent=outage,
                                                          ticket_type=TicketType.INCIDENT)))
    conversations.await_clarification(session=turn.session, conversation=turn.conversation)
    return [Reply((say.CLARIFY_SCOPE if turn.analysis.out_of_scope else say.CLARIFY).in_(turn.lang))]


HANDLERS: dict[Action, Handler] = {
    Action.GREET: greet,
    Action.THANK: thank,
    Action.TICKET_STATUS: ticket_status,
    Action.OPEN_TICKET: open_ticket,
    Action.HANDOFF: handoff,
    Action.SECURITY_INCIDENT: security_incident,
    Action.ASK_SECURITY: ask_security,
    Action.NOT_SECURITY: not_security,
    Action.REDIRECT: redirect,
    Action.ANSWER_FROM_KB: answer_from_kb,
    Action.CONFIRMED_SOLVED: confirmed_solved,
    Action.NOT_SOLVED: not_solved,
    Action.FOLLOW_UP: follow_up,
    Action.RESOLVED_BY_REQUESTER: resolved_by_requester,
    Action.REOPEN: reopen,
    Action.CLARIFY: clarify,
    Action.ASK_NEW_PROBLEM: ask_new_problem,
    Action.NEW_PROBLEM: new_problem,
}


def carry_out(turn: Turn) -> list[Reply]:
    """The decision's desk changes and replies; the new tickets' notices carry the message's analysis and reasons
    (``not_solved`` says more)."""
    notices.explain(turn.session, notices.Why(turn.decision.explain(), turn.analysis))
    return HANDLERS[turn.decision.action](turn)
