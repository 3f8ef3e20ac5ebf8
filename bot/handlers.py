"""Carrying out the policy's decision for one message: the desk changes each action makes and the replies it
writes (answer from the KB, open or escalate a ticket, follow up, reopen, security incident, major incident).
It runs inside the pipeline's transaction for that message."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bot.conversation import ArticleLink, Button, InboundMessage, Reply
from bot.notify import MajorIncidentNotice, TicketNotice
from bot.policy import Action, Decision
from desk import AuthorKind, Direction, Level, ResolutionCode, Status, TicketType
from desk import conversations, relations, routing, tickets
from desk.domain import ACTIVE_STATUSES, ConversationWait

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.pipeline import Pipeline
    from desk.models import Conversation, Ticket
    from nlp import Analysis


class DecisionHandler:
    """Carries out one decision on the desk and writes the replies."""

    def __init__(self, pipeline: Pipeline, session: Session, message: InboundMessage, analysis: Analysis,
                 conversation: Conversation, requester_id: int, decision: Decision, now: dt.datetime):
        self.p, self.s, self.m, self.a = pipeline, session, message, analysis
        self.c, self.requester_id, self.d, self.now = conversation, requester_id, decision, now

    def run(self) -> list[Reply]:
        handler = getattr(self, f"_{self.d.action.value}")
        return handler()

    # smalltalk and status

    def _greet(self) -> list[Reply]:
        return [Reply("Hello! I'm the IT service desk assistant. Tell me what is not working, or ask me about "
                      "your tickets.")]

    def _thank(self) -> list[Reply]:
        return [Reply("You're welcome! Write any time if something else comes up.")]

    def _ticket_status(self) -> list[Reply]:
        mine = tickets.open_tickets_of(session=self.s, requester_id=self.requester_id)
        if not mine:
            return [Reply("You have no open tickets.")]
        lines = ["Your open tickets:"]
        for t in mine:
            lines.append(f"{t.ref} {t.subject} ({t.status.value}, {t.group.name if t.group else 'service desk'}, "
                         f"{t.priority.value}, via {t.channel}){self._eta(t)}")
        return [Reply("\n".join(lines))]

    # tickets

    def _open(self, *, ticket_type: TicketType | None, intent: str | None, auto_assign: bool = True) -> Ticket:
        rule = routing.rule_for(session=self.s, intent=intent)
        base = rule.urgency if rule else int(Level.MEDIUM)
        urgency = Level(max(1, base - self.d.urgency_raise))
        text = self.m.text.strip()
        subject = self.m.subject or (text.splitlines()[0] if text else "(no text)")
        ticket = tickets.open_ticket(
            session=self.s, requester_id=self.requester_id, subject=subject[:120], description=text,
            channel=self.m.conversation.channel, actor="bot", ticket_type=ticket_type, intent=intent,
            impact=Level(self.d.impact or 3), urgency=urgency, auto_assign=auto_assign, now=self.now,
        )
        conversations.attach_ticket(session=self.s, conversation=self.c, ticket=ticket)
        return ticket

    def _notify(self, ticket: Ticket) -> None:
        self.s.flush()
        a = self.a
        if self.d.action is Action.NOT_SOLVED:  # the message is a "no": read the ticket's own text instead
            a = self.p.analyzer.analyze_many([ticket.description or ticket.subject])[0]
        hits = a.kb_hits[:3]
        due = []
        if ticket.first_response_due and ticket.first_response_at is None:
            due.append(f"first response by {ticket.first_response_due:%a %d %b %H:%M} UTC")
        if ticket.resolution_due:
            due.append(f"resolution by {ticket.resolution_due:%a %d %b %H:%M} UTC")
        analysis = (f"intent {a.intent} {a.confidence:.2f}{' (out of scope)' if a.out_of_scope else ''}, "
                    f"sentiment {a.sentiment}, frustration {a.frustration:.2f}, language {a.language}")
        self.p.notifier.new_ticket(self.s, TicketNotice(
            key=f"{self.m.key}:notice:{ticket.number}", ticket_id=ticket.id, ticket_number=ticket.number,
            group=ticket.group.name if ticket.group else None, priority=ticket.priority.value, subject=ticket.subject,
            reasons=self.d.explain(), suggested_articles=tuple(f"{h.article_id} {h.title}" for h in hits),
            articles=tuple(ArticleLink(h.article_id, h.title, f"{self.p.settings.kb_url}/{h.article_id}") for h in hits),
            requester=ticket.requester.display_name if ticket.requester else "", channel=ticket.channel,
            due="; ".join(due), analysis=analysis,
            tried_article=self.d.article_id if self.d.action is Action.NOT_SOLVED else None, assignee=ticket.assignee.display_name if ticket.assignee else None,
        ), self.now)

    def _eta(self, ticket: Ticket) -> str:
        due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
        if due is None or not ticket.status.is_active:
            return ""
        tz = ticket.group.timezone if ticket.group else "UTC"
        from zoneinfo import ZoneInfo

        local = due.astimezone(ZoneInfo(tz))
        what = "a first answer" if ticket.first_response_at is None else "a resolution"
        return f"; expect {what} by {local:%a %d %b, %H:%M} ({tz}, business hours)"

    def _ticket_reply(self, ticket: Ticket, opening: str) -> Reply:
        group = ticket.group.name if ticket.group else "the service desk"
        return Reply(f"{opening} Ticket {ticket.ref} is with {group} (priority {ticket.priority.value})"
                     f"{self._eta(ticket)}.", ticket_ref=ticket.ref)

    def _major_incident(self, ticket: Ticket) -> Reply | None:
        """N incidents of one intent from different people within T minutes: one problem links them."""
        s, settings = self.s, self.p.settings
        if ticket.type is not TicketType.INCIDENT or ticket.intent in (None, "oos", "human_agent"):
            return None
        problem = relations.active_problem_for(session=s, intent=ticket.intent)
        if problem is None:
            others = [t for t in relations.recent_unlinked_incidents(session=s, since=self.now - settings.major_incident_window)
                      if t.id != ticket.id]
            similarity = self.p.analyzer.similarities(ticket.description or ticket.subject,
                                                      [t.description or t.subject for t in others])
            recent = [ticket] + [t for t, sim in zip(others, similarity)
                                 if t.intent == ticket.intent or sim >= settings.major_incident_similarity]
            if len({t.requester_id for t in recent}) < settings.major_incident_count:
                return None
            problem = tickets.open_ticket(
                session=s, requester_id=ticket.requester_id, subject=f"Major incident: {ticket.intent} reported by "
                f"{len(recent)} people", channel="bot", actor="bot", ticket_type=TicketType.PROBLEM,
                intent=ticket.intent, impact=Level.HIGH, urgency=Level.HIGH, now=self.now)
            for incident in sorted(recent, key=lambda t: t.id):
                relations.link_to_problem(session=s, number=incident.number, problem_number=problem.number, actor="bot")
            self.p.notifier.major_incident(self.s, MajorIncidentNotice(
                f"{self.m.key}:major:{problem.number}", problem.number, problem.group.name if problem.group else None,
                tuple(t.number for t in sorted(recent, key=lambda t: t.id))), self.now)
            return None  # the reporter who tipped it over gets the normal reply; later ones hear it is known
        relations.link_to_problem(session=s, number=ticket.number, problem_number=problem.number, actor="bot")
        return Reply(f"This looks like a known issue that IT is already working on ({problem.ref}). Your report "
                     f"is linked to it and you will hear when it is fixed.", ticket_ref=ticket.ref)

    def _open_ticket(self) -> list[Reply]:
        ticket = self._open(ticket_type=self.d.ticket_type, intent=self.d.intent)
        self._notify(ticket)
        replies = [self._ticket_reply(ticket, "Thanks, I've passed this to a person.")]
        known = self._major_incident(ticket)
        if known:
            replies.append(known)
        return replies

    def _handoff(self) -> list[Reply]:
        ticket = self._open(ticket_type=TicketType.INCIDENT, intent=None)
        self._notify(ticket)
        return [self._ticket_reply(ticket, "Sure, a person from IT will take it from here.")]

    def _security_incident(self) -> list[Reply]:
        ticket = self._open(ticket_type=TicketType.INCIDENT, intent=self.d.intent)
        self._notify(ticket)
        article = self._article_for_intent(self.d.intent)
        steps = f"\n\nDo this now:\n{article.steps}" if article else ""
        links = (ArticleLink(article.id, article.title, f"{self.p.settings.kb_url}/{article.id}"),) if article else ()
        return [Reply(f"I've opened security incident {ticket.ref} with high urgency; the Security team has it "
                      f"(priority {ticket.priority.value}){self._eta(ticket)}.{steps}", ticket_ref=ticket.ref,
                      articles=links)]

    def _article_for_intent(self, intent: str | None):  # noqa: ANN202
        articles = self.p.analyzer.kb.articles
        language = self.a.language
        matches = [a for a in articles.values() if intent in a.intents]
        return next((a for a in matches if a.lang == language), None) or next(iter(matches), None)

    def _answer_from_kb(self) -> list[Reply]:
        article = self.p.analyzer.kb.articles[self.d.article_id]
        ticket = self._open(ticket_type=None, intent=self.d.intent, auto_assign=False)
        tickets.change_status(session=self.s, number=ticket.number, status=Status.PENDING, actor="bot", now=self.now)
        tickets.record_first_response(session=self.s, ticket=ticket, actor="bot", now=self.now)  # the article is it
        tickets.set_tags(session=self.s, ticket=ticket, tags=["kb-answer", article.canonical_id], actor="bot", now=self.now)
        conversations.await_confirmation(session=self.s, conversation=self.c, article_id=article.id, now=self.now)
        french = article.lang == "fr"
        question = "Est-ce que cela a résolu le problème ?" if french else "Did this solve it?"
        return [Reply(f"{article.title}\n\n{article.steps}\n\n{question}",
                      buttons=(Button("Oui, résolu" if french else "Yes, solved", "yes"),
                               Button("Non" if french else "No", "no")),
                      articles=(ArticleLink(article.id, article.title, f"{self.p.settings.kb_url}/{article.id}"),))]

    def _confirmed_solved(self) -> list[Reply]:
        ticket = self.c.ticket
        if ticket is not None and ticket.status in ACTIVE_STATUSES:
            tickets.resolve(session=self.s, number=ticket.number, actor="requester",
                            resolution_code=ResolutionCode.SELF_SERVICE, now=self.now)
        conversations.stop_waiting(session=self.s, conversation=self.c)
        return [Reply("Great, glad that solved it! I've closed the request.")]

    def _not_solved(self) -> list[Reply]:
        ticket = self.c.ticket
        conversations.stop_waiting(session=self.s, conversation=self.c)
        if ticket is None or not ticket.status.is_active:
            ticket = self._open(ticket_type=None, intent=self.d.intent)
        else:
            self._escalate(ticket)
        tickets.add_message(session=self.s, idempotency_key=f"{self.m.key}:tried", ticket=ticket, conversation=self.c,
                            direction=Direction.NOTE, author_kind=AuthorKind.BOT, channel="bot",
                            text=f"self-service article tried without success: {self.d.article_id}", now=self.now)
        self._notify(ticket)
        return [self._ticket_reply(ticket, "Sorry it didn't help. I've passed it to a person, with the article "
                                           "you tried.")]

    def _escalate(self, ticket: Ticket) -> None:
        if ticket.status is Status.PENDING:
            tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="bot", now=self.now)
        if ticket.assignee is None and ticket.group is not None:
            agent = routing.least_loaded_agent(session=self.s, group=ticket.group)
            if agent is not None:
                tickets.assign(session=self.s, number=ticket.number, username=agent.username, actor="bot", now=self.now)

    def _follow_up(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        if self.c.awaiting is ConversationWait.CONFIRMATION:  # an answer that is neither yes nor no
            return self._not_solved()
        if ticket.status is Status.PENDING:
            tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="requester",
                                  now=self.now)
        return [Reply(f"Thanks, I've added that to ticket {ticket.ref}.", ticket_ref=ticket.ref)]

    def _resolved_by_requester(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        tickets.resolve(session=self.s, number=ticket.number, actor="requester",
                        resolution_code=ResolutionCode.REQUESTER, now=self.now)
        return [Reply(f"Good to hear it works now. I've resolved ticket {ticket.ref}; write here within "
                      f"{self.p.settings.reopen_window.days} days if it comes back.", ticket_ref=ticket.ref)]

    def _reopen(self) -> list[Reply]:
        ticket = self.c.ticket
        assert ticket is not None
        tickets.change_status(session=self.s, number=ticket.number, status=Status.OPEN, actor="requester",
                              reopen_window=self.p.settings.reopen_window, now=self.now)
        self._escalate(ticket)
        return [Reply(f"I've reopened ticket {ticket.ref} and added your message.", ticket_ref=ticket.ref)]

    def _clarify(self) -> list[Reply]:
        conversations.await_clarification(session=self.s, conversation=self.c)
        if self.a.out_of_scope:
            return [Reply("I'm the IT service desk assistant: accounts, devices, software, network, email and "
                          "security. Is this about an IT problem? Tell me a bit more (which system, what you see), "
                          "and I'll pass it on if I can't solve it.")]
        return [Reply("Could you tell me a bit more: which system or device is affected, and what exactly do you "
                      "see (an error message helps)?")]
