"""Notifications to agent groups: new tickets, SLA warnings and breaches, major incidents.

A notifier is called inside the transaction that made the news (the ticket opened, the SLA
scan recorded the alert), with that transaction's session. ``GroupNotifier`` only queues
outbox rows there, so a notice is sent exactly when the change commits, retried by the
dispatcher like any reply, and never calls a platform from inside a database transaction.
``Notifiers`` fans one notice out to several notifiers (the log and the groups' channels).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.conversation import AgentAction, ArticleLink, Button, Menu, Reply
from bot.rich_text import quote
from desk import conversations, queue
from desk.people import get_group, notice_targets_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("deskbot.notify")


@dataclass(frozen=True)
class TicketNotice:
    key: str  # unique per notice; the outbox rows' keys derive from it (a redelivery queues nothing new)
    ticket_id: int
    ticket_number: int
    group: str | None
    priority: str
    subject: str
    reasons: str
    suggested_articles: tuple[str, ...]  # "KB-0012 Mailbox full ..." (top 3)
    articles: tuple[ArticleLink, ...] = ()  # the same three, with their links
    requester: str = ""
    channel: str = ""  # where the requester wrote
    due: str = ""  # "first response by ..., resolution by ..."
    analysis: str = ""  # what the NLP read: intent, confidence, sentiment
    assignee: str | None = None
    tried_article: str | None = None  # the KB answer the requester said did not help

    @property
    def ticket_ref(self) -> str:
        return f"#{self.ticket_number}"


@dataclass(frozen=True)
class SlaNotice:
    ticket_id: int
    ticket_number: int
    group: str | None
    assignee: str | None
    kind: str
    level: str
    due: str
    assignee_email: str | None = None

    @property
    def key(self) -> str:
        return f"sla:{self.ticket_id}:{self.kind}:{self.level}"

    @property
    def ticket_ref(self) -> str:
        return f"#{self.ticket_number}"


@dataclass(frozen=True)
class MajorIncidentNotice:
    key: str
    problem_number: int
    group: str | None
    incidents: tuple[int, ...]  # the linked incidents' ticket numbers

    @property
    def problem_ref(self) -> str:
        return f"#{self.problem_number}"

    def incident_refs(self) -> str:
        return ", ".join(f"#{n}" for n in self.incidents)


class Notifier(Protocol):
    def new_ticket(self, session: Session, notice: TicketNotice, now: dt.datetime) -> None: ...

    def sla(self, session: Session, notice: SlaNotice, now: dt.datetime) -> None: ...

    def major_incident(self, session: Session, notice: MajorIncidentNotice, now: dt.datetime) -> None: ...


class Notifiers:
    """Several notifiers as one; each gets every notice, in order."""

    def __init__(self, notifiers: Iterable[Notifier]):
        self.notifiers = tuple(notifiers)

    def new_ticket(self, session: Session, notice: TicketNotice, now: dt.datetime) -> None:
        for notifier in self.notifiers:
            notifier.new_ticket(session, notice, now)

    def sla(self, session: Session, notice: SlaNotice, now: dt.datetime) -> None:
        for notifier in self.notifiers:
            notifier.sla(session, notice, now)

    def major_incident(self, session: Session, notice: MajorIncidentNotice, now: dt.datetime) -> None:
        for notifier in self.notifiers:
            notifier.major_incident(session, notice, now)


class LogNotifier:
    def new_ticket(self, session: Session, notice: TicketNotice, now: dt.datetime) -> None:
        log.info("new ticket %s for %s (%s): %s; suggested: %s", notice.ticket_ref, notice.group, notice.priority,
                 notice.subject, ", ".join(notice.suggested_articles) or "none")

    def sla(self, session: Session, notice: SlaNotice, now: dt.datetime) -> None:
        log.warning("SLA %s %s on %s (group %s, assignee %s, due %s)", notice.kind, notice.level, notice.ticket_ref,
                    notice.group, notice.assignee or "-", notice.due)

    def major_incident(self, session: Session, notice: MajorIncidentNotice, now: dt.datetime) -> None:
        log.warning("major incident: problem %s for %s links %s", notice.problem_ref, notice.group,
                    notice.incident_refs())


class GroupNotifier:
    """Queues each notice to the group's own places (its notice targets: a Slack channel, an address), each only
    when that channel runs in this deployment.

    A new ticket's Slack post carries the agent buttons; its thread is remembered (``agent_threads``) so
    SLA notices go into it and agents' messages there map back to the ticket.
    """

    def __init__(self, *, channels: Iterable[str], console_url: str = "", intents: Iterable[str] = ()):
        self.channels = frozenset(channels)
        self.console_url = console_url.rstrip("/")
        self.intents = tuple(sorted(intents))  # the "Correct intent" menu's choices (none: no menu)

    def _places(self, session: Session, group_name: str | None) -> tuple[str | None, str | None]:
        if group_name is None:
            return None, None
        group = get_group(session=session, name=group_name)
        targets = notice_targets_of(group)
        slack = targets.get("slack") if "slack" in self.channels else None
        email = targets.get("email") if "email" in self.channels else None
        return slack, email

    def new_ticket(self, session: Session, notice: TicketNotice, now: dt.datetime) -> None:
        slack, email = self._places(session, notice.group)
        lines = [f"**New ticket {notice.ticket_ref}** ({notice.priority}, {quote(notice.group or 'no group')}): "
                 f"{quote(notice.subject)}",
                 f"Requester: {quote(notice.requester or '?')} via {notice.channel or '?'}"
                 f" · assignee: {quote(notice.assignee or 'nobody yet')}"]
        if notice.due:
            lines.append(f"SLA: {notice.due}")
        if notice.analysis:
            lines.append(f"Analysis: {quote(notice.analysis)}")
        if notice.reasons:
            lines.append(f"Decision: {quote(notice.reasons)}")
        lines.append("Suggested articles: " + (quote("; ".join(notice.suggested_articles)) or "none"))
        if notice.tried_article:
            lines.append(f"Tried by the requester without success: {quote(notice.tried_article)}")
        text = "\n".join(lines)
        if slack:
            buttons = [Button("Assign to me", AgentAction("assign", notice.ticket_number).as_value())]
            untried = [a for a in notice.articles if a.article_id != notice.tried_article]
            if untried:
                top = untried[0]
                buttons.append(Button(f"Send {top.article_id} to requester",
                                      AgentAction("send_article", notice.ticket_number, top.article_id).as_value()))
            buttons.append(Button("Reply to requester", AgentAction("reply", notice.ticket_number).as_value()))
            if self.console_url:
                buttons.append(Button("Open in console", "console",
                                      url=f"{self.console_url}/tickets/{notice.ticket_number}"))
            number = notice.ticket_number
            menus = (Menu("Correct intent", tuple(Button(i, AgentAction("confirm_intent", number, intent=i).as_value())
                                                  for i in self.intents)),) if self.intents else ()
            row = queue.enqueue_outbound(session=session, key=f"{notice.key}:slack", channel="slack", address=slack,
                                         thread="", payload=Reply(text, buttons=tuple(buttons), menus=menus,
                                                                  ticket_ref=notice.ticket_ref,
                                                                  articles=notice.articles).to_json(),
                                         now=now, ticket_id=notice.ticket_id)
            conversations.record_agent_post(session=session, ticket_id=notice.ticket_id, channel="slack",
                                            address=slack, outbox_id=row.id, now=now)
        if email:
            queue.enqueue_outbound(session=session, key=f"{notice.key}:email", channel="email", address=email,
                                   thread="", payload=Reply(text, ticket_ref=notice.ticket_ref,
                                                            articles=notice.articles,
                                                            subject=f"New {notice.priority} ticket: {notice.subject}",
                                                            ).to_json(),
                                   now=now, ticket_id=notice.ticket_id)

    def sla(self, session: Session, notice: SlaNotice, now: dt.datetime) -> None:
        slack, email = self._places(session, notice.group)
        what = "breached" if notice.level == "breach" else "at risk (80 % used)"
        text = (f"SLA {notice.kind.replace('_', ' ')} {what} on {notice.ticket_ref}: due {notice.due}; "
                f"assignee {notice.assignee or 'nobody'}")
        mentions = (notice.assignee_email,) if notice.assignee_email else ()
        if slack:
            post = conversations.agent_thread_of(session=session, ticket_id=notice.ticket_id, channel="slack")
            # In the ticket's thread when its post went out; else (not sent yet, or posted before the group had
            # a channel) in the group's channel itself.
            address, thread = (post.address, post.thread) if post is not None and post.thread else (slack, "")
            queue.enqueue_outbound(session=session, key=f"{notice.key}:slack", channel="slack", address=address,
                                   thread=thread, payload=Reply(text, ticket_ref=notice.ticket_ref,
                                                                mentions=mentions).to_json(),
                                   now=now, ticket_id=notice.ticket_id)
        if email:
            queue.enqueue_outbound(session=session, key=f"{notice.key}:email", channel="email", address=email,
                                   thread="", payload=Reply(text, ticket_ref=notice.ticket_ref,
                                                            subject=f"SLA {what}: {notice.kind.replace('_', ' ')}",
                                                            ).to_json(), now=now,
                                   ticket_id=notice.ticket_id)

    def major_incident(self, session: Session, notice: MajorIncidentNotice, now: dt.datetime) -> None:
        slack, email = self._places(session, notice.group)
        text = (f"**Major incident**: problem {notice.problem_ref} links {len(notice.incidents)} reports "
                f"({notice.incident_refs()})")
        for channel, address in (("slack", slack), ("email", email)):
            if address:
                queue.enqueue_outbound(session=session, key=f"{notice.key}:{channel}", channel=channel,
                                       address=address, thread="",
                                       payload=Reply(text,
                                                     ticket_ref=notice.problem_ref,
                                                     subject=f"Major incident: {len(notice.incidents)} reports linked",
                                                     ).to_json(), now=now)
