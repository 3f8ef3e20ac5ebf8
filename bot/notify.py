"""Notifications to agent groups: new tickets, SLA warnings and breaches, major incidents.

A log notifier now; Slack and email notifiers come with those channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("deskbot.notify")


@dataclass(frozen=True)
class TicketNotice:
    ticket_ref: str
    group: str | None
    priority: str
    subject: str
    reasons: str
    suggested_articles: tuple[str, ...]  # "KB-0012 Mailbox full ..." (top 3)


@dataclass(frozen=True)
class SlaNotice:
    ticket_ref: str
    group: str | None
    assignee: str | None
    kind: str
    level: str
    due: str


class Notifier(Protocol):
    def new_ticket(self, notice: TicketNotice) -> None: ...

    def sla(self, notice: SlaNotice) -> None: ...

    def major_incident(self, problem_ref: str, group: str | None, incidents: tuple[str, ...]) -> None: ...


class LogNotifier:
    def __init__(self) -> None:
        self.sent: list[object] = []  # what was notified, for the console and for tests

    def new_ticket(self, notice: TicketNotice) -> None:
        self.sent.append(notice)
        log.info("new ticket %s for %s (%s): %s; suggested: %s", notice.ticket_ref, notice.group, notice.priority,
                 notice.subject, ", ".join(notice.suggested_articles) or "none")

    def sla(self, notice: SlaNotice) -> None:
        self.sent.append(notice)
        log.warning("SLA %s %s on %s (group %s, assignee %s, due %s)", notice.kind, notice.level, notice.ticket_ref,
                    notice.group, notice.assignee or "-", notice.due)

    def major_incident(self, problem_ref: str, group: str | None, incidents: tuple[str, ...]) -> None:
        self.sent.append((problem_ref, group, incidents))
        log.warning("major incident: problem %s for %s links %s", problem_ref, group, ", ".join(incidents))
