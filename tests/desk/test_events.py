"""Domain events: each desk function records what happened, and the unit of work publishes one transaction's
events just before it commits, in that transaction (SQLite and PostgreSQL, the ``uow`` fixture)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from desk import AuthorKind, DeskError, Direction, ResolutionCode, Status, TicketType, UnitOfWork
from desk import people, relations, sla, tickets
from desk.domain import SlaKind, SlaLevel
from desk.events import (
    Event,
    MajorIncident,
    SlaAlert,
    StatusChanged,
    TicketAssigned,
    TicketEscalated,
    TicketOpened,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)
from desk.models import Counter, Ticket

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday, inside the default business hours
REOPEN = dt.timedelta(days=7)


class Published:
    """A publish hook that keeps what it was given, one list per transaction."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    def __call__(self, session, events: Sequence[Event]) -> None:  # noqa: ANN001
        self.batches.append(list(events))

    def last(self) -> list[Event]:
        return self.batches[-1]


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def unit(uow: UnitOfWork, published: Published) -> UnitOfWork:
    return uow.publishing(published)


def open_(session, *, who: str = "ana@corp.example", **kwargs):  # noqa: ANN001, ANN003, ANN201
    requester = people.resolve_requester(session=session, channel="email", external_id=who, email=who,
                                         email_verified=True)
    kwargs.setdefault("subject", "VPN drops every hour")
    kwargs.setdefault("now", T0)
    return tickets.open_ticket(session=session, requester_id=requester.id, channel="email", actor="test", **kwargs)


def test_opening_records_opened_and_the_automatic_assignment(unit: UnitOfWork, published: Published) -> None:
    with unit() as s:
        people.add_user(session=s, username="nina", display_name="Nina", email="nina@corp.example", groups=["Network"])
    with unit() as s:
        t = open_(s, intent="vpn_connection")
        ticket_id, number = t.id, t.number
    assert published.last() == [
        TicketOpened(ticket_id, number, "test", T0),
        TicketAssigned(ticket_id, number, "nina", "test", T0),
        StatusChanged(ticket_id, number, Status.NEW, Status.OPEN, "test", T0),
    ]


def test_assign_reply_status_resolve_and_reopen_each_record_their_event(unit: UnitOfWork,
                                                                          published: Published) -> None:
    with unit() as s:
        people.add_user(session=s, username="amy", display_name="Amy", email="amy@corp.example")
        number = open_(s, group="Service Desk").number  # no members: nobody is assigned
    at = T0 + dt.timedelta(minutes=5)
    with unit() as s:
        tickets.assign(session=s, number=number, username="amy", actor="user:amy", now=at)
        ticket = tickets.get_ticket(session=s, number=number)
        amy = people.get_user(session=s, username="amy")
        tickets.add_message(session=s, idempotency_key="answer-1", ticket=ticket, direction=Direction.OUTBOUND,
                            author_kind=AuthorKind.AGENT, author_user_id=amy.id, channel="email", text="Try this",
                            now=at)
        tickets.add_message(session=s, idempotency_key="note-1", ticket=ticket, direction=Direction.NOTE,
                            author_kind=AuthorKind.AGENT, channel="desk", text="internal", now=at)
        tickets.change_status(session=s, number=number, status=Status.PENDING, actor="user:amy", now=at)
        ticket_id = ticket.id
    assert published.last() == [
        TicketAssigned(ticket_id, number, "amy", "user:amy", at),
        StatusChanged(ticket_id, number, Status.NEW, Status.OPEN, "user:amy", at),
        TicketReplied(ticket_id, number, AuthorKind.AGENT, amy.id, at),  # a note is no reply
        StatusChanged(ticket_id, number, Status.OPEN, Status.PENDING, "user:amy", at),
    ]
    with unit() as s:
        tickets.resolve(session=s, number=number, actor="user:amy", now=at)
    assert published.last() == [StatusChanged(ticket_id, number, Status.PENDING, Status.RESOLVED, "user:amy", at),
                                TicketResolved(ticket_id, number, ResolutionCode.AGENT, "user:amy", at)]
    later = at + dt.timedelta(days=1)
    with unit() as s:
        tickets.change_status(session=s, number=number, status=Status.OPEN, actor="requester", reopen_window=REOPEN,
                              now=later)
    assert published.last() == [StatusChanged(ticket_id, number, Status.RESOLVED, Status.OPEN, "requester", later),
                                TicketReopened(ticket_id, number, "requester", later)]


def test_escalating_a_pending_ticket_records_escalated(unit: UnitOfWork, published: Published) -> None:
    with unit() as s:
        t = open_(s, intent="password_reset", auto_assign=False)
        tickets.change_status(session=s, number=t.number, status=Status.PENDING, actor="bot", now=T0)
        ticket_id, number = t.id, t.number
    with unit() as s:
        tickets.escalate(session=s, number=number, actor="bot", now=T0)
    assert published.last() == [StatusChanged(ticket_id, number, Status.PENDING, Status.OPEN, "bot", T0),
                                TicketEscalated(ticket_id, number, "bot", T0)]


def test_the_sla_scan_records_a_warning_and_a_breach(unit: UnitOfWork, published: Published) -> None:
    with unit() as s:
        t = open_(s, group="Service Desk")  # P4 by default: first response due in 8 business hours
        ticket_id, number, warn_at, due = t.id, t.number, t.first_response_warn_at, t.first_response_due
    with unit() as s:
        sla.scan(session=s, now=warn_at)
    assert published.last() == [SlaAlert(ticket_id, number, SlaKind.FIRST_RESPONSE, SlaLevel.WARNING, due,
                                          "Service Desk", None, warn_at)]
    with unit() as s:
        sla.scan(session=s, now=due)
    assert published.last() == [SlaAlert(ticket_id, number, SlaKind.FIRST_RESPONSE, SlaLevel.BREACH, due,
                                          "Service Desk", None, due)]


def test_a_major_incident_opens_a_problem_linking_the_reports(unit: UnitOfWork, published: Published) -> None:
    with unit() as s:
        reports = [open_(s, who=f"u{i}@corp.example", intent="network_outage", subject="the network is down")
                   for i in range(3)]
        numbers = tuple(t.number for t in reports)
    with unit() as s:
        incidents = [tickets.get_ticket(session=s, number=n) for n in numbers]
        problem = relations.open_major_incident(session=s, incidents=incidents, intent="network_outage",
                                                requester_id=incidents[-1].requester_id, actor="bot", now=T0)
        problem_id, problem_number = problem.id, problem.number
        assert problem.type is TicketType.PROBLEM and sorted(c.number for c in problem.children) == list(numbers)
    events = published.last()
    assert events[0] == TicketOpened(problem_id, problem_number, "bot", T0)
    assert events[-1] == MajorIncident(problem_id, problem_number, numbers, "bot", T0)


def test_a_rolled_back_transaction_publishes_nothing(unit: UnitOfWork, uow: UnitOfWork,
                                                     published: Published) -> None:
    with pytest.raises(DeskError), unit() as s:
        open_(s)
        raise DeskError("the caller gave up")
    assert published.batches == []
    with unit() as s:  # a transaction that records nothing publishes nothing either
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
    assert published.batches == []


def test_the_hook_writes_in_the_changes_transaction(uow: UnitOfWork) -> None:
    """What the hook writes commits with the change; a hook that fails rolls the change back with it."""

    def count_openings(session, events: Sequence[Event]) -> None:  # noqa: ANN001
        opened = sum(isinstance(e, TicketOpened) for e in events)
        row = session.get(Counter, "test_openings") or Counter(name="test_openings", value=0)
        row.value += opened
        session.add(row)

    with uow.publishing(count_openings)() as s:
        open_(s)
        open_(s)
    with uow() as s:
        assert s.get(Counter, "test_openings").value == 2

    def refuse(session, events: Sequence[Event]) -> None:  # noqa: ANN001
        raise RuntimeError("the outbox is unreachable")

    with pytest.raises(RuntimeError), uow.publishing(refuse)() as s:
        open_(s, subject="never stored")
    with uow() as s:
        assert s.scalar(select(func.count()).select_from(Ticket).where(Ticket.subject == "never stored")) == 0
