"""KPIs (desk.kpis.compute) on tickets built through the service layer, on SQLite and PostgreSQL.

The data set (``build``) lives in the seeded groups, whose calendar is UTC mon-fri 09:00-17:00
(8 business hours a day). January 2025: Fri 3, Mon 6, Tue 7, Wed 8, Thu 9, Fri 10, Mon 13.
Default SLA resolution targets: P2 8 h, P4 40 h of business time. Priorities: no intent and
the default impact LOW x urgency MEDIUM = P4; impact HIGH x urgency MEDIUM = P2; MEDIUM x MEDIUM = P3.

 ticket  group/prio       created (UTC)  inbound  what happens                               CSAT
 T0      Service Desk P4  Fri 3  10:00   0        closed self-service Fri 3 10:30             1
 T1      Service Desk P4  Mon 6  09:00   1 (+1 agent reply)  resolved Mon 6 11:00             5
 T2      Service Desk P4  Mon 6  10:00   2        resolved Tue 7 10:00                        3
 T3      Service Desk P4  Mon 6  14:00   1        resolved Mon 15:00, reopened Tue 09:00,     4
                                                  resolved again Tue 7 12:00
 T4      Service Desk P4  Tue 7  09:00   1        closed self-service Tue 7 09:30             -
 T5      Service Desk P4  Tue 7  10:00   0        closed potential deflection Wed 8 10:00     -
 T6      Service Desk P2  Wed 8  09:00   1        resolved Thu 9 10:00 (due Wed 17:00: late)  2
 T7      Service Desk P4  Wed 8  12:00   1        still new
 T8      Network P2       Thu 9  09:00   0        pending since Thu 9 10:00
 T9      Network P3       Thu 9  11:00   0        still new
 T10     Network P3       Fri 10 16:00   0        still new
 T11     Service Desk P4  Mon 13 09:00   0        still new

Resolution times (wall clock / business time, seconds):
 T0  30 min / 30 min                 1800 /  1800
 T1  2 h / 2 h                       7200 /  7200
 T2  24 h / Mon 10-17 7 h + Tue 09-10 1 h = 8 h            86400 / 28800
 T3  Mon 14:00 -> Tue 12:00 = 22 h / Mon 14-17 3 h + Tue 09-12 3 h = 6 h   79200 / 21600
 T4  30 min / 30 min                 1800 /  1800
 T5  24 h / Tue 10-17 7 h + Wed 09-10 1 h = 8 h            86400 / 28800
 T6  25 h / Wed 09-17 8 h + Thu 09-10 1 h = 9 h            90000 / 32400
SLA (resolution due): T6 P2 from Wed 09:00 + 8 h = Wed 8 17:00, resolved Thu: missed.
 The P4 ones have 40 h = 5 business days and are all resolved within a day or so: met.
"""

from __future__ import annotations

import datetime as dt

import pytest

from desk import UnitOfWork, kpis, people, tickets
from desk.domain import AuthorKind, Direction, Level, Priority, ResolutionCode, Status
from desk.kpis import Ratio

UTC = dt.UTC
SD, NET = "Service Desk", "Network"
P2 = {"impact": Level.HIGH, "urgency": Level.MEDIUM}
P3 = {"impact": Level.MEDIUM, "urgency": Level.MEDIUM}
P4: dict = {}  # the defaults: impact LOW, urgency MEDIUM


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


def jan(d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return utc(2025, 1, d, h, mi)


class Desk:
    """Service-layer steps, each in its own unit of work."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.keys = 0

    def open(self, at: dt.datetime, group: str, priority: dict) -> int:
        with self.uow() as session:
            requester = people.resolve_requester(
                session=session, channel="email", external_id="a@corp.example",
                email="a@corp.example", email_verified=True,
            )
            return tickets.open_ticket(
                session=session, requester_id=requester.id, subject="Something is broken",
                channel="email", actor="test", group=group, now=at, **priority,
            ).number

    def message(self, number: int, at: dt.datetime, direction: Direction = Direction.INBOUND,
                author_kind: AuthorKind = AuthorKind.REQUESTER) -> None:
        self.keys += 1
        with self.uow() as session:
            ticket = tickets.get_ticket(session=session, number=number, for_update=True)
            tickets.add_message(
                session=session, idempotency_key=f"m{self.keys}", direction=direction,
                author_kind=author_kind, channel="email", text="...", ticket=ticket, now=at,
            )

    def status(self, number: int, status: Status, at: dt.datetime, code: ResolutionCode | None = None) -> None:
        with self.uow() as session:
            tickets.change_status(session=session, number=number, status=status, actor="test",
                                  resolution_code=code, reopen_window=dt.timedelta(days=7), now=at)

    def resolve(self, number: int, at: dt.datetime) -> None:
        with self.uow() as session:
            tickets.resolve(session=session, number=number, actor="test", now=at)

    def csat(self, number: int, score: int) -> None:
        with self.uow() as session:
            tickets.record_csat(session=session, number=number, score=score, actor="requester")


def build(uow: UnitOfWork) -> None:
    desk = Desk(uow)

    t0 = desk.open(jan(3, 10), SD, P4)
    desk.status(t0, Status.CLOSED, jan(3, 10, 30), ResolutionCode.SELF_SERVICE)
    desk.csat(t0, 1)

    t1 = desk.open(jan(6, 9), SD, P4)
    desk.message(t1, jan(6, 9))
    desk.message(t1, jan(6, 9, 30), Direction.OUTBOUND, AuthorKind.AGENT)  # not a requester contact
    desk.message(t1, jan(6, 9, 45), Direction.NOTE, AuthorKind.AGENT)
    desk.resolve(t1, jan(6, 11))
    desk.csat(t1, 5)

    t2 = desk.open(jan(6, 10), SD, P4)
    desk.message(t2, jan(6, 10))
    desk.message(t2, jan(6, 12))  # the requester had to write twice: not first contact
    desk.resolve(t2, jan(7, 10))
    desk.csat(t2, 3)

    t3 = desk.open(jan(6, 14), SD, P4)
    desk.message(t3, jan(6, 14))
    desk.resolve(t3, jan(6, 15))
    desk.status(t3, Status.OPEN, jan(7, 9))  # reopened: not first contact
    desk.resolve(t3, jan(7, 12))
    desk.csat(t3, 4)

    t4 = desk.open(jan(7, 9), SD, P4)
    desk.message(t4, jan(7, 9))
    desk.status(t4, Status.CLOSED, jan(7, 9, 30), ResolutionCode.SELF_SERVICE)

    t5 = desk.open(jan(7, 10), SD, P4)
    desk.status(t5, Status.CLOSED, jan(8, 10), ResolutionCode.POTENTIAL_DEFLECTION)

    t6 = desk.open(jan(8, 9), SD, P2)
    desk.message(t6, jan(8, 9))
    desk.resolve(t6, jan(9, 10))
    desk.csat(t6, 2)

    t7 = desk.open(jan(8, 12), SD, P4)
    desk.message(t7, jan(8, 12))

    t8 = desk.open(jan(9, 9), NET, P2)
    desk.status(t8, Status.PENDING, jan(9, 10))

    desk.open(jan(9, 11), NET, P3)  # T9
    desk.open(jan(10, 16), NET, P3)  # T10
    desk.open(jan(13, 9), SD, P4)  # T11

    with uow() as session:  # the table above is what was built
        got = [(t.status, t.priority, t.group.name) for t in reversed(tickets.list_tickets(session=session))]
    assert got == [
        (Status.CLOSED, Priority.P4, SD),
        (Status.RESOLVED, Priority.P4, SD),
        (Status.RESOLVED, Priority.P4, SD),
        (Status.RESOLVED, Priority.P4, SD),
        (Status.CLOSED, Priority.P4, SD),
        (Status.CLOSED, Priority.P4, SD),
        (Status.RESOLVED, Priority.P2, SD),
        (Status.NEW, Priority.P4, SD),
        (Status.PENDING, Priority.P2, NET),
        (Status.NEW, Priority.P3, NET),
        (Status.NEW, Priority.P3, NET),
        (Status.NEW, Priority.P4, SD),
    ]


# The backlog is always the current one, whatever the window: T7, T11 (Service Desk P4);
# T8 pending (Network P2); T9, T10 (Network P3).
BACKLOG = {(SD, Priority.P4): 2, (NET, Priority.P2): 1, (NET, Priority.P3): 2}


def test_kpis_of_one_week(uow: UnitOfWork) -> None:
    build(uow)
    since, until = jan(6, 9), jan(13, 9)  # [Mon 6 09:00, Mon 13 09:00): T1 (created at `since`) .. T10
    with uow() as session:
        k = kpis.compute(session=session, since=since, until=until)

    assert (k.since, k.until) == (since, until)
    assert k.tickets == 10
    # first contact: T1 (one inbound, an agent reply and a note do not count), T4 (one inbound),
    # T5 (no inbound), T6 (one inbound; late, but resolved at first contact). Not T2 (two inbound),
    # not T3 (reopened), not T7-T10 (not resolved). 4 of all 10 tickets.
    assert k.first_contact_resolution == Ratio(4, 10)
    # wall clock: (7200 + 86400 + 79200 + 1800 + 86400 + 90000) / 6 = 351000 / 6 = 58500 s = 16.25 h
    assert k.mean_time_to_resolve_hours == pytest.approx(16.25)
    # business: (7200 + 28800 + 21600 + 1800 + 28800 + 32400) / 6 = 120600 / 6 = 20100 s = 67/12 h
    assert k.mean_business_time_to_resolve_hours == pytest.approx(67 / 12)
    # resolved T1-T6, all with a due instant; T6 late: 5 of 6
    assert k.sla_compliance == Ratio(5, 6)
    # confirmed self-service T4; potential deflection T5 apart; of all 10 tickets
    assert k.self_service_rate == Ratio(1, 10)
    assert k.potential_deflection_rate == Ratio(1, 10)
    # resolved or closed: T1-T6; reopened among them: T3
    assert k.reopen_rate == Ratio(1, 6)
    # answers: T1 5, T2 3, T3 4, T6 2 -> 14 / 4 = 3.5; satisfied (4 or 5): T1, T3
    assert k.csat_average == pytest.approx(3.5)
    assert k.csat_satisfied == Ratio(2, 4)
    assert k.backlog == BACKLOG

    assert k.first_contact_resolution.value == pytest.approx(0.4)
    assert str(k.first_contact_resolution) == "40.0 % (4/10)"
    assert str(k.csat_satisfied) == "50.0 % (2/4)"


def test_kpis_of_all_time(uow: UnitOfWork) -> None:
    build(uow)
    with uow() as session:
        k = kpis.compute(session=session)

    assert (k.since, k.until) == (None, None)
    assert k.tickets == 12
    # T0 (closed self-service, no inbound) joins T1, T4, T5, T6
    assert k.first_contact_resolution == Ratio(5, 12)
    # wall clock: (351000 + 1800) / 7 = 352800 / 7 = 50400 s = 14 h
    assert k.mean_time_to_resolve_hours == pytest.approx(14.0)
    # business: (120600 + 1800) / 7 = 122400 / 7 s = 34/7 h
    assert k.mean_business_time_to_resolve_hours == pytest.approx(34 / 7)
    assert k.sla_compliance == Ratio(6, 7)
    assert k.self_service_rate == Ratio(2, 12)  # T0, T4
    assert k.potential_deflection_rate == Ratio(1, 12)  # T5
    assert k.reopen_rate == Ratio(1, 7)  # T3 of T0-T6
    # answers 1, 5, 3, 4, 2 -> 15 / 5 = 3.0; satisfied T1, T3
    assert k.csat_average == pytest.approx(3.0)
    assert k.csat_satisfied == Ratio(2, 5)
    assert k.backlog == BACKLOG


def test_window_start_is_inclusive_and_end_exclusive(uow: UnitOfWork) -> None:
    build(uow)
    # [Tue 7 09:00, Wed 8 09:00): T4 (created at the start) and T5; not T6 (created at the end).
    with uow() as session:
        k = kpis.compute(session=session, since=jan(7, 9), until=jan(8, 9))

    assert k.tickets == 2
    assert k.first_contact_resolution == Ratio(2, 2)
    # wall clock (1800 + 86400) / 2 = 44100 s = 12.25 h; business (1800 + 28800) / 2 = 15300 s = 4.25 h
    assert k.mean_time_to_resolve_hours == pytest.approx(12.25)
    assert k.mean_business_time_to_resolve_hours == pytest.approx(4.25)
    assert k.sla_compliance == Ratio(2, 2)
    assert k.self_service_rate == Ratio(1, 2)
    assert k.potential_deflection_rate == Ratio(1, 2)
    assert k.reopen_rate == Ratio(0, 2)
    assert k.csat_average is None  # neither was surveyed
    assert k.csat_satisfied == Ratio(0, 0)
    assert k.backlog == BACKLOG


def test_empty_window_has_no_figures_but_the_backlog(uow: UnitOfWork) -> None:
    build(uow)
    with uow() as session:
        k = kpis.compute(session=session, since=utc(2025, 2, 1), until=utc(2025, 3, 1))

    assert k.tickets == 0
    for ratio in (k.first_contact_resolution, k.sla_compliance, k.self_service_rate,
                  k.potential_deflection_rate, k.reopen_rate, k.csat_satisfied):
        assert ratio == Ratio(0, 0)
        assert ratio.value is None
        assert str(ratio) == "n/a"
    assert k.mean_time_to_resolve_hours is None
    assert k.mean_business_time_to_resolve_hours is None
    assert k.csat_average is None
    assert k.backlog == BACKLOG


def test_window_with_only_open_tickets(uow: UnitOfWork) -> None:
    build(uow)
    # [Thu 9 00:00, Sat 11 00:00): T8 (pending), T9, T10 -- nothing resolved yet.
    with uow() as session:
        k = kpis.compute(session=session, since=jan(9), until=jan(11))

    assert k.tickets == 3
    assert k.first_contact_resolution == Ratio(0, 3)
    assert k.mean_time_to_resolve_hours is None
    assert k.mean_business_time_to_resolve_hours is None
    assert k.sla_compliance == Ratio(0, 0)
    assert k.self_service_rate == Ratio(0, 3)
    assert k.reopen_rate == Ratio(0, 0)
    assert k.backlog == BACKLOG
