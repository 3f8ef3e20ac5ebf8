"""Domain events: what happened on the desk, recorded by the desk functions that made it happen.

A desk function that changes a ticket records an event on its session (``record``); the unit of work
(``desk.db.UnitOfWork``) hands the events of one transaction to its ``publish`` hook just before it commits,
so whatever the application makes of them (group notices, later surveys and approval requests) is written in
that same transaction: it commits with the change or not at all. A rolled-back transaction's events are
dropped with it. The desk itself never reads them back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desk.domain import AuthorKind, ResolutionCode, SlaKind, SlaLevel, Status

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_EVENTS = "desk.events"  # the key of the session's list in ``Session.info``


@dataclass(frozen=True)
class TicketOpened:
    ticket_id: int
    ticket_number: int
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class TicketAssigned:
    ticket_id: int
    ticket_number: int
    assignee: str | None  # a username; None: unassigned
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class TicketReplied:
    """The desk answered the requester (an agent, or the bot): a message went out on the ticket."""

    ticket_id: int
    ticket_number: int
    author: AuthorKind
    user_id: int | None  # the agent's desk user, when an agent wrote
    at: dt.datetime


@dataclass(frozen=True)
class StatusChanged:
    ticket_id: int
    ticket_number: int
    old: Status
    new: Status
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class TicketResolved:
    ticket_id: int
    ticket_number: int
    code: ResolutionCode | None  # None: closed without a resolution code (never resolved first)
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class TicketReopened:
    ticket_id: int
    ticket_number: int
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class TicketEscalated:
    """The requester said the bot's answer did not help: the ticket is back with the group's people."""

    ticket_id: int
    ticket_number: int
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class SlaAlert:
    """An SLA warning (80 % of a target used) or breach, reported once per ticket, target and level."""

    ticket_id: int
    ticket_number: int
    kind: SlaKind
    level: SlaLevel
    due: dt.datetime
    group: str | None
    assignee: str | None
    at: dt.datetime  # when the scan found it


@dataclass(frozen=True)
class MajorIncident:
    """A problem opened from several linked incidents of one cause."""

    problem_id: int
    problem_number: int
    incidents: tuple[int, ...]  # the linked incidents' ticket numbers, oldest first
    actor: str
    at: dt.datetime


Event = (TicketOpened | TicketAssigned | TicketReplied | StatusChanged | TicketResolved | TicketReopened
         | TicketEscalated | SlaAlert | MajorIncident)
Publish = Callable[["Session", Sequence[Event]], None]


def record(session: Session, event: Event) -> None:
    """Note ``event`` on the session's transaction (published before it commits, dropped if it rolls back)."""
    session.info.setdefault(_EVENTS, []).append(event)


def take(session: Session) -> list[Event]:
    """The events recorded since the last ``take``, in order, and forget them."""
    return session.info.pop(_EVENTS, [])
