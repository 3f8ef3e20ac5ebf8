"""What the console's pages show, built from the API's models and the desk's rows: the queues, a row of a queue
with its SLA clock, and the icon of each channel. Nothing here decides anything about a ticket."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.web.auth import Principal
from bot.web.ticket_models import TicketQuery, TicketSummary
from desk import Priority, Status
from desk.domain import ACTIVE_STATUSES, SlaState
from desk.ticket_queries import MAX_PAGE, TicketFilter

if TYPE_CHECKING:
    from desk.models import Ticket

_ACTIVE = tuple(s for s in Status if s in ACTIVE_STATUSES)


class Queue(enum.StrEnum):
    MINE = "mine"
    GROUPS = "groups"
    TRIAGE = "triage"
    AT_RISK = "at-risk"

    @property
    def title(self) -> str:
        return _QUEUE_TITLES[self]

    def filter(self, principal: Principal) -> TicketFilter:
        """The queue's own conditions; the filters an agent picks narrow it further."""
        if self is Queue.MINE:
            return TicketFilter(statuses=_ACTIVE, assignee=principal.username)
        if self is Queue.GROUPS:
            return TicketFilter(statuses=_ACTIVE, groups=principal.groups)
        if self is Queue.TRIAGE:
            return TicketFilter(statuses=_ACTIVE, unassigned=True)
        return TicketFilter(statuses=_ACTIVE, sla_states=(SlaState.WARNING, SlaState.BREACHED))


_QUEUE_TITLES = {Queue.MINE: "Mine", Queue.GROUPS: "My groups", Queue.TRIAGE: "Unassigned / triage",
                 Queue.AT_RISK: "Breached or at risk"}


class SortKey(enum.StrEnum):
    UPDATED = "updated"
    NUMBER = "number"
    SUBJECT = "subject"
    REQUESTER = "requester"
    CHANNEL = "channel"
    PRIORITY = "priority"
    STATUS = "status"
    DUE = "due"


_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def _sort_value(row: QueueRow, key: SortKey) -> object:
    t = row.ticket
    if key is SortKey.DUE:
        return row.clock.due if row.clock else _FAR
    if key is SortKey.PRIORITY:
        return list(Priority).index(t.priority)
    if key is SortKey.STATUS:
        return list(Status).index(t.status)
    if key in (SortKey.SUBJECT, SortKey.REQUESTER, SortKey.CHANNEL):
        return str(getattr(t, key.value)).casefold()
    return getattr(t, key.value)


@dataclass(frozen=True)
class SlaClock:
    """The SLA target a ticket runs against now (the first response until it is given, then the resolution),
    for the countdown; None when no clock runs (a ticket that is resolved, or has no SLA)."""

    what: str  # "first response" | "resolution"
    due: dt.datetime
    warn_at: dt.datetime | None  # 80 % of the target used
    state: SlaState  # as the desk's SLA scan last recorded it
    paused: bool  # pending: the resolution clock stands still

    @classmethod
    def of(cls, ticket: Ticket) -> SlaClock | None:
        if ticket.status not in ACTIVE_STATUSES:
            return None
        if ticket.first_response_at is None and ticket.first_response_due is not None:
            return cls("first response", ticket.first_response_due, ticket.first_response_warn_at, ticket.sla_state,
                       paused=False)
        if ticket.resolution_due is not None:
            return cls("resolution", ticket.resolution_due, ticket.resolution_warn_at, ticket.sla_state,
                       paused=ticket.status is Status.PENDING)
        return None


@dataclass(frozen=True)
class QueueRow:
    ticket: TicketSummary
    clock: SlaClock | None

    @classmethod
    def of(cls, ticket: Ticket) -> QueueRow:
        return cls(TicketSummary.of(ticket), SlaClock.of(ticket))


def sorted_rows(rows: Sequence[QueueRow], *, key: SortKey, descending: bool) -> list[QueueRow]:
    return sorted(rows, key=lambda r: _sort_value(r, key), reverse=descending)


# The console's own query parameters; every other one is the API's (``TicketQuery``).
CONSOLE_PARAMS = frozenset({"queue", "sort", "dir"})


@dataclass(frozen=True)
class QueueRequest:
    """What a queue page asks for: the queue, the API's filters on top of it, the order."""

    queue: Queue
    query: TicketQuery
    sort: SortKey
    descending: bool

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> QueueRequest:
        """From the page's query string; a bad value raises ``ValueError`` with what is wrong."""
        def one(name: str, default: str) -> str:
            values = [v for v in params.get(name, ()) if v]
            return values[-1] if values else default

        try:
            queue, sort = Queue(one("queue", Queue.GROUPS.value)), SortKey(one("sort", SortKey.UPDATED.value))
        except ValueError as exc:
            raise ValueError(f"not a queue or column: {exc}") from exc
        filters: dict[str, object] = {}
        for name, values in params.items():
            kept = [v for v in values if v]
            if name in CONSOLE_PARAMS or not kept:
                continue
            filters[name] = kept if name in _LIST_PARAMS else kept[-1]
        try:
            query = TicketQuery.model_validate({**filters, "limit": MAX_PAGE})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            raise ValueError(problems) from exc
        return cls(queue, query, sort, one("dir", "desc") != "asc")

    def ticket_filter(self, principal: Principal) -> TicketFilter:
        """The queue's conditions, each replaced by the agent's own choice where they made one."""
        base, picked = self.queue.filter(principal), self.query.to_filter()
        chosen = {f.name: getattr(picked, f.name) for f in dataclasses.fields(picked)
                  if getattr(picked, f.name) not in ((), None, False)}
        return dataclasses.replace(base, **chosen)

    def link(self, **changes: str) -> str:
        """This page's query string with ``changes`` (the column headers' sorting links)."""
        from urllib.parse import urlencode

        params: list[tuple[str, str]] = [("queue", self.queue.value), ("sort", self.sort.value),
                                         ("dir", "desc" if self.descending else "asc")]
        for name, value in self.query.model_dump(exclude_defaults=True, exclude={"limit"}).items():
            for each in value if isinstance(value, list) else [value]:
                params.append((name, each.value if isinstance(each, enum.Enum) else str(each)))
        merged = dict(params[:3]) | changes
        return urlencode([*merged.items(), *params[3:]])


_LIST_PARAMS = frozenset(name for name, field in TicketQuery.model_fields.items()
                         if getattr(field.annotation, "__origin__", None) is list)

# A text badge and a small inline SVG per channel (served in the page: no external asset).
CHANNEL_LABELS = {"email": "Email", "slack": "Slack", "webchat": "Web chat", "telegram": "Telegram",
                  "terminal": "Terminal", "api": "API", "desk": "Desk", "console": "Console", "bot": "Bot"}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)
