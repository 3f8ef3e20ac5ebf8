"""Group notices from the desk's domain events: the one place that decides what the groups hear of.

``GroupNotices`` is the unit of work's ``publish`` hook (``desk.db.UnitOfWork``; the composition root wires it).
It runs just before the commit, in the transaction that recorded the events, because a notice is outbox rows:
they must commit with the change that made the news, or not at all. After the commit, a crash before a second
transaction would lose the notice for good. So nobody assembles a notice by hand at a call site:

- a ticket opened, or escalated after the bot's answer did not help, while it is in the hands of the group's
  people (new or open; a KB answer's ticket is pending, waiting on the requester) -> ``TicketNotice``, once per
  ticket and transaction; the problem of a major incident is announced as that instead;
- an SLA alert -> ``SlaNotice``;
- a major incident -> ``MajorIncidentNotice``.

The worker adds what only it knows (what the NLP read and why the policy chose this, the article the requester
tried) with ``explain``; a ticket opened elsewhere (the command line) is announced without them. The other
events (assigned, replied, status changed, resolved, reopened) reach no group today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.conversation import ArticleLink
from bot.notify import MajorIncidentNotice, Notifier, SlaNotice, TicketNotice
from desk import Status, tickets
from desk.events import Event, MajorIncident, SlaAlert, TicketEscalated, TicketOpened

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desk.models import Ticket
    from nlp import Analysis

_WHY = "deskbot.why"  # the key of the worker's explanation in ``Session.info``
SUGGESTED = 3  # articles a new ticket's notice suggests
WITH_PEOPLE = frozenset({Status.NEW, Status.OPEN})


@dataclass(frozen=True)
class Why:
    """What the worker read and decided for the message this transaction handles."""

    reasons: str  # the policy's decision, explained
    analysis: Analysis | None = None  # what the NLP read of the ticket's text
    tried_article: str | None = None  # the KB answer the requester said did not help


def explain(session: Session, why: Why) -> None:
    """The worker's side of this transaction's new-ticket notices (the last word counts)."""
    session.info[_WHY] = why


class GroupNotices:
    """Turns one transaction's events into notices for ``notifier`` (see the module's docstring)."""

    def __init__(self, notifier: Notifier, *, kb_url: str):
        self.notifier = notifier
        self.kb_url = kb_url.rstrip("/")

    def __call__(self, session: Session, events: Sequence[Event]) -> None:
        problems = {e.problem_id for e in events if isinstance(e, MajorIncident)}
        announced: set[int] = set()
        for event in events:
            if isinstance(event, (TicketOpened, TicketEscalated)):
                if event.ticket_id in problems or event.ticket_id in announced:
                    continue
                ticket = tickets.get_ticket_by_id(session=session, ticket_id=event.ticket_id)
                if ticket.status in WITH_PEOPLE:
                    announced.add(ticket.id)
                    self.notifier.new_ticket(session, self._ticket(ticket, event, session.info.get(_WHY)), event.at)
            elif isinstance(event, SlaAlert):
                self.notifier.sla(session, _sla(session, event), event.at)
            elif isinstance(event, MajorIncident):
                problem = tickets.get_ticket_by_id(session=session, ticket_id=event.problem_id)
                self.notifier.major_incident(session, MajorIncidentNotice(
                    f"major:{event.problem_number}", event.problem_number,
                    problem.group.name if problem.group else None, event.incidents), event.at)

    def _ticket(self, ticket: Ticket, event: TicketOpened | TicketEscalated, why: Why | None) -> TicketNotice:
        a = why.analysis if why else None
        hits = a.kb_hits[:SUGGESTED] if a else ()
        due = []
        if ticket.first_response_due and ticket.first_response_at is None:
            due.append(f"first response by {ticket.first_response_due:%a %d %b %H:%M} UTC")
        if ticket.resolution_due:
            due.append(f"resolution by {ticket.resolution_due:%a %d %b %H:%M} UTC")
        analysis = (f"intent {a.intent} {a.confidence:.2f}{' (out of scope)' if a.out_of_scope else ''}, "
                    f"sentiment {a.sentiment}, frustration {a.frustration:.2f}, language {a.language}") if a else ""
        what = "opened" if isinstance(event, TicketOpened) else f"escalated:{event.at.isoformat()}"
        return TicketNotice(
            key=f"ticket:{ticket.number}:{what}", ticket_id=ticket.id, ticket_number=ticket.number,
            group=ticket.group.name if ticket.group else None, priority=ticket.priority.value, subject=ticket.subject,
            reasons=why.reasons if why else "", suggested_articles=tuple(f"{h.article_id} {h.title}" for h in hits),
            articles=tuple(ArticleLink(h.article_id, h.title, f"{self.kb_url}/{h.article_id}") for h in hits),
            requester=ticket.requester.display_name if ticket.requester else "", channel=ticket.channel,
            due="; ".join(due), analysis=analysis, tried_article=why.tried_article if why else None,
            assignee=ticket.assignee.display_name if ticket.assignee else None,
        )


def _sla(session: Session, alert: SlaAlert) -> SlaNotice:
    ticket = tickets.get_ticket_by_id(session=session, ticket_id=alert.ticket_id)
    return SlaNotice(ticket_id=alert.ticket_id, ticket_number=alert.ticket_number, group=alert.group,
                     assignee=alert.assignee, kind=alert.kind.value, level=alert.level.value,
                     due=alert.due.strftime("%Y-%m-%d %H:%M UTC"),
                     assignee_email=ticket.assignee.email if ticket.assignee else None)
