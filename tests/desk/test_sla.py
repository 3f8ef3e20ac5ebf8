"""SLA through the service layer: due instants, warnings, the scan, pauses, MET/MISSED, reopen.

Every test runs on SQLite and on PostgreSQL (the ``uow`` fixture), and every step is its
own unit of work, so that the instants make a round trip through the database.

Default SLA policies (desk/defaults.py), in business minutes:
  P1 15 / 240 around the clock;  P2 60 / 480;  P3 240 / 1440;  P4 480 / 2400.
The warning comes at 80 % of a target:
  P1 12 min / 192 min (3h12);  P2 48 min / 384 min (6h24);  P3 192 min (3h12) / 1152 min (19h12).
Priorities used (ITIL matrix): P1 = impact HIGH x urgency HIGH, P2 = HIGH x MEDIUM,
P3 = MEDIUM x MEDIUM.

The "Paris Desk" group works mon-fri 09:00-17:00 Europe/Paris (8 h a day).
Calendar, 2025:  Fri 28 Mar, Mon 31 Mar (Paris went from CET to CEST on Sun 30 Mar);
                 Fri 10 Jan, Sat 11, Sun 12, Mon 13, Tue 14, Wed 15, Thu 16, Fri 17,
                 Mon 20, Tue 21 Jan;  Fri 18 Apr (Good Friday), Mon 21 Apr (Easter Monday),
                 Tue 22 Apr.
Paris is CET = UTC+1 in January and CEST = UTC+2 in April.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from desk import UnitOfWork, people, sla, tickets
from desk.domain import (
    AuthorKind,
    Direction,
    InvalidTransition,
    Level,
    Priority,
    ResolutionCode,
    SlaKind,
    SlaLevel,
    SlaState,
    Status,
)
from desk.models import SlaEvent, Ticket
from desk.sla import SlaAlert

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
PARIS_DESK = "Paris Desk"
EASTER_MONDAY_2025 = dt.date(2025, 4, 21)

P1 = {"impact": Level.HIGH, "urgency": Level.HIGH}
P2 = {"impact": Level.HIGH, "urgency": Level.MEDIUM}
P3 = {"impact": Level.MEDIUM, "urgency": Level.MEDIUM}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    """A Paris wall-clock time, as the aware UTC instant the desk is given."""
    return dt.datetime(y, mo, d, h, mi, tzinfo=PARIS).astimezone(UTC)


@pytest.fixture
def paris_desk(uow: UnitOfWork) -> str:
    with uow() as session:
        people.add_group(
            session=session,
            name=PARIS_DESK,
            timezone="Europe/Paris",
            working_hours="mon-fri 09:00-17:00",
            holidays=[EASTER_MONDAY_2025],
        )
    return PARIS_DESK


def add_agent(uow: UnitOfWork, username: str, group: str) -> int:
    with uow() as session:
        user = people.add_user(
            session=session, username=username, display_name=username.title(),
            email=f"{username}@corp.example", groups=[group],
        )
        return user.id


def open_at(uow: UnitOfWork, at: dt.datetime, *, group: str = PARIS_DESK, priority: dict = P3) -> int:
    """Open a ticket at ``at`` into ``group``; returns its number."""
    with uow() as session:
        requester = people.resolve_requester(
            session=session, channel="email", external_id="a@corp.example",
            email="a@corp.example", email_verified=True,
        )
        ticket = tickets.open_ticket(
            session=session, requester_id=requester.id, subject="VPN drops every hour",
            channel="email", actor="test", group=group, now=at, **priority,
        )
        return ticket.number


def load(uow: UnitOfWork, number: int) -> Ticket:
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number)
        if ticket.group is not None:  # load what the tests read after the session closes
            ticket.group.holidays  # noqa: B018
        ticket.assignee  # noqa: B018
        return ticket


def scan(uow: UnitOfWork, now: dt.datetime) -> list[SlaAlert]:
    with uow() as session:
        return sla.scan(session=session, now=now)


def set_status(uow: UnitOfWork, number: int, status: Status, now: dt.datetime, **kwargs) -> Ticket:
    with uow() as session:
        return tickets.change_status(session=session, number=number, status=status, actor="test", now=now, **kwargs)


def resolve(uow: UnitOfWork, number: int, now: dt.datetime) -> Ticket:
    with uow() as session:
        return tickets.resolve(session=session, number=number, actor="test", now=now)


def message(
    uow: UnitOfWork, number: int, key: str, now: dt.datetime, *,
    direction: Direction, author_kind: AuthorKind, author_user_id: int | None = None,
) -> None:
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number, for_update=True)
        tickets.add_message(
            session=session, idempotency_key=key, direction=direction, author_kind=author_kind,
            channel="email", text="...", ticket=ticket, author_user_id=author_user_id, now=now,
        )


def agent_reply(uow: UnitOfWork, number: int, key: str, now: dt.datetime, user_id: int | None = None) -> None:
    message(uow, number, key, now, direction=Direction.OUTBOUND, author_kind=AuthorKind.AGENT, author_user_id=user_id)


def assert_instant(value: dt.datetime | None, expected: dt.datetime) -> None:
    assert value == expected, (value, expected)
    assert value.utcoffset() == dt.timedelta(0)


# --------------------------------------------------------------------------- due instants


def test_friday_late_afternoon_ticket_in_paris_is_due_monday(uow: UnitOfWork, paris_desk: str) -> None:
    # P2 opened Fri 10 Jan 16:00 Paris (15:00 UTC); 1 h of business time left on Friday.
    p2 = open_at(uow, paris(2025, 1, 10, 16), priority=P2)
    t = load(uow, p2)
    assert t.priority is Priority.P2 and t.group.name == PARIS_DESK
    # first response 60 min: Fri 16:00 + 1h = Fri 17:00 Paris (closing time exactly) = 16:00 UTC
    assert_instant(t.first_response_due, utc(2025, 1, 10, 16))
    # warning 48 min: Fri 16:48 Paris = 15:48 UTC
    assert_instant(t.first_response_warn_at, utc(2025, 1, 10, 15, 48))
    # resolution 8 h: Fri 16-17 (1 h), weekend closed, Mon 09:00 + 7 h = Mon 13 Jan 16:00 Paris = 15:00 UTC
    assert_instant(t.resolution_due, utc(2025, 1, 13, 15))
    # warning 6h24: Fri 1 h, Mon 09:00 + 5h24 = Mon 14:24 Paris = 13:24 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 13, 13, 24))

    # P3 opened Fri 10 Jan 16:30 Paris (15:30 UTC); 30 min left on Friday.
    p3 = open_at(uow, paris(2025, 1, 10, 16, 30), priority=P3)
    t = load(uow, p3)
    assert t.priority is Priority.P3
    # first response 4 h: Fri 0h30, Mon 09:00 + 3h30 = Mon 12:30 Paris = 11:30 UTC
    assert_instant(t.first_response_due, utc(2025, 1, 13, 11, 30))
    # warning 3h12: Fri 0h30, Mon 09:00 + 2h42 = Mon 11:42 Paris = 10:42 UTC
    assert_instant(t.first_response_warn_at, utc(2025, 1, 13, 10, 42))
    # resolution 24 h: Fri 0h30, Mon 8 h (8h30), Tue 8 h (16h30), Wed 09:00 + 7h30 = Wed 15 Jan 16:30 Paris
    assert_instant(t.resolution_due, utc(2025, 1, 15, 15, 30))
    # warning 19h12: Fri 0h30, Mon 8 h, Tue 8 h (16h30), Wed 09:00 + 2h42 = Wed 11:42 Paris = 10:42 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 15, 10, 42))


def test_due_across_the_spring_forward_weekend(uow: UnitOfWork, paris_desk: str) -> None:
    # P2 opened Fri 28 Mar 2025 16:00 Paris, still CET (15:00 UTC).
    t = load(uow, open_at(uow, paris(2025, 3, 28, 16), priority=P2))
    assert_instant(t.first_response_due, utc(2025, 3, 28, 16))  # Fri 17:00 CET
    # resolution 8 h: Fri 1 h, Mon 31 Mar 09:00 + 7 h = 16:00 CEST (UTC+2) = 14:00 UTC
    assert_instant(t.resolution_due, utc(2025, 3, 31, 14))
    # warning 6h24: Fri 1 h, Mon 09:00 + 5h24 = 14:24 CEST = 12:24 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 3, 31, 12, 24))


def test_ticket_opened_after_hours_counts_from_the_next_opening(uow: UnitOfWork, paris_desk: str) -> None:
    # P2 opened Tue 14 Jan 20:00 Paris (19:00 UTC): the desk is closed, counting starts Wed 09:00 Paris.
    evening = open_at(uow, paris(2025, 1, 14, 20), priority=P2)
    t = load(uow, evening)
    # first response 1 h: Wed 10:00 Paris = 09:00 UTC; warning 48 min: Wed 09:48 Paris = 08:48 UTC
    assert_instant(t.first_response_due, utc(2025, 1, 15, 9))
    assert_instant(t.first_response_warn_at, utc(2025, 1, 15, 8, 48))
    # resolution 8 h: the whole of Wednesday, Wed 17:00 Paris = 16:00 UTC; warning 6h24: Wed 15:24 Paris
    assert_instant(t.resolution_due, utc(2025, 1, 15, 16))
    assert_instant(t.resolution_warn_at, utc(2025, 1, 15, 14, 24))

    # P2 opened Sun 12 Jan 11:00 Paris: counting starts Mon 13 Jan 09:00 Paris (08:00 UTC).
    sunday = open_at(uow, paris(2025, 1, 12, 11), priority=P2)
    t = load(uow, sunday)
    assert_instant(t.first_response_due, utc(2025, 1, 13, 9))  # Mon 10:00 Paris
    assert_instant(t.resolution_due, utc(2025, 1, 13, 16))  # Mon 17:00 Paris


def test_holiday_of_the_group_is_skipped(uow: UnitOfWork, paris_desk: str) -> None:
    with uow() as session:  # the same hours, without the Easter Monday holiday
        people.add_group(session=session, name="Paris No Holiday", timezone="Europe/Paris",
                         working_hours="mon-fri 09:00-17:00")
    # P2 opened Fri 18 Apr 2025 16:00 Paris (CEST, 14:00 UTC).
    with_holiday = load(uow, open_at(uow, paris(2025, 4, 18, 16), priority=P2))
    without = load(uow, open_at(uow, paris(2025, 4, 18, 16), group="Paris No Holiday", priority=P2))
    # first response 1 h: Fri 17:00 Paris = 15:00 UTC for both
    assert_instant(with_holiday.first_response_due, utc(2025, 4, 18, 15))
    assert_instant(without.first_response_due, utc(2025, 4, 18, 15))
    # resolution 8 h: Fri 1 h; Mon 21 Apr is a holiday; Tue 22 Apr 09:00 + 7 h = 16:00 Paris = 14:00 UTC
    assert_instant(with_holiday.resolution_due, utc(2025, 4, 22, 14))
    # without the holiday: Fri 1 h, Mon 21 Apr 09:00 + 7 h = 16:00 Paris = 14:00 UTC on the Monday
    assert_instant(without.resolution_due, utc(2025, 4, 21, 14))


def test_p1_runs_around_the_clock_whatever_the_group_calendar(uow: UnitOfWork, paris_desk: str) -> None:
    # P1 opened Sat 11 Jan 22:00 Paris (21:00 UTC), a closed day for the Paris Desk: 24x7 anyway.
    number = open_at(uow, paris(2025, 1, 11, 22), priority=P1)
    t = load(uow, number)
    assert t.priority is Priority.P1
    assert_instant(t.first_response_warn_at, utc(2025, 1, 11, 21, 12))  # + 12 min
    assert_instant(t.first_response_due, utc(2025, 1, 11, 21, 15))  # + 15 min
    assert_instant(t.resolution_warn_at, utc(2025, 1, 12, 0, 12))  # + 3h12
    assert_instant(t.resolution_due, utc(2025, 1, 12, 1))  # + 4 h, Sunday 01:00 UTC

    # Resolved Sun 00:30 UTC: 3h30 wall clock, and the same in "business" time (always open).
    t = resolve(uow, number, utc(2025, 1, 12, 0, 30))
    assert t.sla_state is SlaState.MET
    assert t.resolution_seconds == 3 * 3600 + 1800
    assert t.resolution_business_seconds == 3 * 3600 + 1800


def test_set_policy_changes_the_targets_of_new_tickets(uow: UnitOfWork, paris_desk: str) -> None:
    with uow() as session:
        sla.set_policy(session=session, priority=Priority.P3, first_response_minutes=30, resolution_minutes=120)
    # P3 opened Mon 13 Jan 16:45 Paris (15:45 UTC); 15 min left on Monday.
    t = load(uow, open_at(uow, paris(2025, 1, 13, 16, 45)))
    # first response 30 min: Mon 15 min, Tue 09:00 + 15 min = 09:15 Paris = 08:15 UTC
    assert_instant(t.first_response_due, utc(2025, 1, 14, 8, 15))
    # warning 24 min: Mon 15 min, Tue 09:09 Paris = 08:09 UTC
    assert_instant(t.first_response_warn_at, utc(2025, 1, 14, 8, 9))
    # resolution 120 min: Mon 15 min, Tue 09:00 + 105 min = 10:45 Paris = 09:45 UTC
    assert_instant(t.resolution_due, utc(2025, 1, 14, 9, 45))
    # warning 96 min: Mon 15 min, Tue 09:00 + 81 min = 10:21 Paris = 09:21 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 14, 9, 21))

    with uow() as session:
        sla.set_policy(session=session, priority=Priority.P3, first_response_minutes=30, resolution_minutes=120,
                       around_the_clock=True)
    # Around the clock now: plain addition from Mon 15:45 UTC.
    t = load(uow, open_at(uow, paris(2025, 1, 13, 16, 45)))
    assert_instant(t.first_response_due, utc(2025, 1, 13, 16, 15))
    assert_instant(t.resolution_due, utc(2025, 1, 13, 17, 45))


# --------------------------------------------------------------------------- the scan


def test_scan_reports_each_warning_and_breach_exactly_once(uow: UnitOfWork, paris_desk: str) -> None:
    add_agent(uow, "alice", PARIS_DESK)
    # P3 opened Mon 13 Jan 09:00 Paris (08:00 UTC), auto-assigned to alice.
    number = open_at(uow, paris(2025, 1, 13, 9))
    t = load(uow, number)
    assert t.assignee.username == "alice" and t.status is Status.OPEN
    ticket_id = t.id
    # first response: warning 3h12 -> 12:12 Paris = 11:12 UTC; due 4 h -> 13:00 Paris = 12:00 UTC
    # resolution: 24 h = Mon, Tue, Wed -> due Wed 15 Jan 17:00 Paris = 16:00 UTC;
    #             warning 19h12 = Mon 8 h + Tue 8 h + Wed 3h12 -> Wed 12:12 Paris = 11:12 UTC
    fr_due, res_due = utc(2025, 1, 13, 12), utc(2025, 1, 15, 16)

    def alert(kind: SlaKind, level: SlaLevel, due: dt.datetime, at: dt.datetime) -> SlaAlert:
        return SlaAlert(ticket_id=ticket_id, ticket_number=number, kind=kind, level=level, due=due,
                        group=PARIS_DESK, assignee="alice", at=at)

    assert scan(uow, utc(2025, 1, 13, 11, 11)) == []  # one minute before the first warning
    assert load(uow, number).sla_state is SlaState.OK

    assert scan(uow, utc(2025, 1, 13, 11, 12)) == [alert(SlaKind.FIRST_RESPONSE, SlaLevel.WARNING, fr_due, utc(2025, 1, 13, 11, 12))]
    assert load(uow, number).sla_state is SlaState.WARNING
    assert scan(uow, utc(2025, 1, 13, 11, 12)) == []  # the same instant again
    assert scan(uow, utc(2025, 1, 13, 11, 59)) == []

    assert scan(uow, utc(2025, 1, 13, 12)) == [alert(SlaKind.FIRST_RESPONSE, SlaLevel.BREACH, fr_due, utc(2025, 1, 13, 12))]
    assert load(uow, number).sla_state is SlaState.BREACHED
    assert scan(uow, utc(2025, 1, 14, 12)) == []
    assert scan(uow, utc(2025, 1, 15, 11, 11)) == []

    assert scan(uow, utc(2025, 1, 15, 11, 12)) == [alert(SlaKind.RESOLUTION, SlaLevel.WARNING, res_due, utc(2025, 1, 15, 11, 12))]
    assert load(uow, number).sla_state is SlaState.BREACHED  # a warning never lowers a breach
    assert scan(uow, utc(2025, 1, 15, 15, 59)) == []

    assert scan(uow, utc(2025, 1, 15, 16)) == [alert(SlaKind.RESOLUTION, SlaLevel.BREACH, res_due, utc(2025, 1, 15, 16))]
    assert scan(uow, utc(2025, 1, 16, 9)) == []
    assert scan(uow, utc(2025, 2, 1)) == []

    with uow() as session:
        events = session.execute(
            select(SlaEvent.kind, SlaEvent.level, SlaEvent.due, SlaEvent.at).order_by(SlaEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        (SlaKind.FIRST_RESPONSE, SlaLevel.WARNING, fr_due, utc(2025, 1, 13, 11, 12)),
        (SlaKind.FIRST_RESPONSE, SlaLevel.BREACH, fr_due, utc(2025, 1, 13, 12)),
        (SlaKind.RESOLUTION, SlaLevel.WARNING, res_due, utc(2025, 1, 15, 11, 12)),
        (SlaKind.RESOLUTION, SlaLevel.BREACH, res_due, utc(2025, 1, 15, 16)),
    ]


def test_one_late_scan_reports_every_crossed_instant_once(uow: UnitOfWork) -> None:
    # P3 in the seeded "Service Desk" (UTC, mon-fri 09:00-17:00, no members: unassigned, status new),
    # opened Mon 13 Jan 09:00 UTC: first response due 13:00 UTC (warning 12:12);
    # resolution due Wed 15 Jan 17:00 UTC (24 h = Mon, Tue, Wed), warning Wed 12:12 UTC.
    number = open_at(uow, utc(2025, 1, 13, 9), group="Service Desk")
    t = load(uow, number)
    assert t.assignee is None and t.status is Status.NEW

    def alert(kind: SlaKind, level: SlaLevel, due: dt.datetime) -> SlaAlert:
        return SlaAlert(ticket_id=t.id, ticket_number=number, kind=kind, level=level, due=due,
                        group="Service Desk", assignee=None, at=utc(2025, 1, 15, 17))

    # The monitor was down until Wed 17:00 UTC: everything comes at once, and once.
    assert scan(uow, utc(2025, 1, 15, 17)) == [
        alert(SlaKind.FIRST_RESPONSE, SlaLevel.WARNING, utc(2025, 1, 13, 13)),
        alert(SlaKind.FIRST_RESPONSE, SlaLevel.BREACH, utc(2025, 1, 13, 13)),
        alert(SlaKind.RESOLUTION, SlaLevel.WARNING, utc(2025, 1, 15, 17)),
        alert(SlaKind.RESOLUTION, SlaLevel.BREACH, utc(2025, 1, 15, 17)),
    ]
    assert load(uow, number).sla_state is SlaState.BREACHED
    assert scan(uow, utc(2025, 1, 15, 17)) == []
    assert scan(uow, utc(2025, 1, 20, 9)) == []


def test_agent_first_response_stops_the_first_response_clock(uow: UnitOfWork, paris_desk: str) -> None:
    alice = add_agent(uow, "alice", PARIS_DESK)
    # Two P3 tickets opened Mon 13 Jan 09:00 Paris (08:00 UTC): first response warning 11:12 UTC,
    # due 12:00 UTC; resolution warning Wed 15 Jan 11:12 UTC, due Wed 16:00 UTC.
    answered = open_at(uow, paris(2025, 1, 13, 9))
    bot_only = open_at(uow, paris(2025, 1, 13, 9))
    fr_due, res_due = utc(2025, 1, 13, 12), utc(2025, 1, 15, 16)

    # None of these is an agent's reply to the requester: the clock keeps running.
    for number in (answered, bot_only):
        message(uow, number, f"{number}-in", utc(2025, 1, 13, 8),
                direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER)
        message(uow, number, f"{number}-bot", utc(2025, 1, 13, 8, 1),
                direction=Direction.OUTBOUND, author_kind=AuthorKind.BOT)
        message(uow, number, f"{number}-note", utc(2025, 1, 13, 8, 30),
                direction=Direction.NOTE, author_kind=AuthorKind.AGENT, author_user_id=alice)
        assert load(uow, number).first_response_at is None

    # alice answers the first ticket at 10:00 UTC, and again at 10:30 (the first one counts).
    agent_reply(uow, answered, "reply-1", utc(2025, 1, 13, 10), alice)
    agent_reply(uow, answered, "reply-2", utc(2025, 1, 13, 10, 30), alice)
    assert_instant(load(uow, answered).first_response_at, utc(2025, 1, 13, 10))
    assert load(uow, bot_only).first_response_at is None

    # After the first-response due instant only the unanswered ticket is reported.
    alerts = scan(uow, utc(2025, 1, 13, 12, 30))
    assert [(a.ticket_number, a.kind, a.level, a.due) for a in alerts] == [
        (bot_only, SlaKind.FIRST_RESPONSE, SlaLevel.WARNING, fr_due),
        (bot_only, SlaKind.FIRST_RESPONSE, SlaLevel.BREACH, fr_due),
    ]
    assert load(uow, answered).sla_state is SlaState.OK
    # The resolution clock of the answered ticket still runs.
    alerts = scan(uow, utc(2025, 1, 15, 16))
    assert [(a.ticket_number, a.kind, a.level, a.due) for a in alerts] == [
        (answered, SlaKind.RESOLUTION, SlaLevel.WARNING, res_due),
        (answered, SlaKind.RESOLUTION, SlaLevel.BREACH, res_due),
        (bot_only, SlaKind.RESOLUTION, SlaLevel.WARNING, res_due),
        (bot_only, SlaKind.RESOLUTION, SlaLevel.BREACH, res_due),
    ]


# --------------------------------------------------------------------------- pending pauses


def test_pending_time_pauses_the_resolution_clock(uow: UnitOfWork, paris_desk: str) -> None:
    alice = add_agent(uow, "alice", PARIS_DESK)
    # P3 opened Mon 13 Jan 09:00 Paris (08:00 UTC): resolution due Wed 15 Jan 17:00 Paris (16:00 UTC),
    # warning Wed 12:12 Paris (11:12 UTC); first response due Mon 13:00 Paris (12:00 UTC).
    number = open_at(uow, paris(2025, 1, 13, 9))
    agent_reply(uow, number, "reply", utc(2025, 1, 13, 8, 30), alice)
    before = load(uow, number)
    assert_instant(before.resolution_due, utc(2025, 1, 15, 16))
    calendar = people.calendar_for(before.group)

    # Pending from Mon 13:00 Paris to Tue 11:00 Paris: Mon 13-17 (4 h) + Tue 09-11 (2 h) = 6 h of business time.
    set_status(uow, number, Status.PENDING, paris(2025, 1, 13, 13))
    t = set_status(uow, number, Status.OPEN, paris(2025, 1, 14, 11))
    assert t.pending_since is None
    assert t.paused_seconds == 6 * 3600
    # due: 24 h + 6 h = 30 h from Mon 09:00 = Mon 8, Tue 8, Wed 8, Thu 09:00 + 6 h = Thu 16 Jan 15:00 Paris
    assert_instant(t.resolution_due, utc(2025, 1, 16, 14))
    assert calendar.between(before.resolution_due, t.resolution_due) == dt.timedelta(hours=6)
    # warning: 19h12 + 6 h = 25h12 = Mon 8, Tue 8, Wed 8, Thu 09:00 + 1h12 = Thu 10:12 Paris = 09:12 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 16, 9, 12))
    # the first-response targets are not moved
    assert_instant(t.first_response_due, utc(2025, 1, 13, 12))

    # Pending again Wed 09:00 -> 10:30 Paris: 1h30 more, 7h30 in all.
    set_status(uow, number, Status.PENDING, paris(2025, 1, 15, 9))
    t = set_status(uow, number, Status.OPEN, paris(2025, 1, 15, 10, 30))
    assert t.paused_seconds == 7 * 3600 + 1800
    # due: 24 h + 7h30 = 31h30 = Mon 8, Tue 8, Wed 8, Thu 09:00 + 7h30 = Thu 16:30 Paris = 15:30 UTC
    assert_instant(t.resolution_due, utc(2025, 1, 16, 15, 30))
    assert calendar.between(before.resolution_due, t.resolution_due) == dt.timedelta(hours=7, minutes=30)
    # warning: 19h12 + 7h30 = 26h42 = 24 h + Thu 09:00 + 2h42 = Thu 11:42 Paris = 10:42 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 16, 10, 42))

    # The original due (Wed 16:00 UTC) has passed without an alert; the moved warning comes on time.
    assert scan(uow, utc(2025, 1, 15, 16)) == []
    assert [(a.kind, a.level) for a in scan(uow, utc(2025, 1, 16, 10, 42))] == [
        (SlaKind.RESOLUTION, SlaLevel.WARNING)
    ]

    # Resolved Thu 16:00 Paris (15:00 UTC), before the moved due: met.
    t = resolve(uow, number, paris(2025, 1, 16, 16))
    assert t.sla_state is SlaState.MET
    # wall clock Mon 08:00 -> Thu 15:00 UTC = 3 days 7 h = 79 h
    assert t.resolution_seconds == 79 * 3600
    # business: Mon 8 + Tue 8 + Wed 8 + Thu 09-16 7 = 31 h, minus 7h30 paused = 23h30
    assert t.resolution_business_seconds == 23 * 3600 + 1800


def test_resolved_while_pending_does_not_count_the_pending_time(uow: UnitOfWork, paris_desk: str) -> None:
    # P3 opened Mon 13 Jan 09:00 Paris (08:00 UTC), pending from Tue 14 Jan 09:00 Paris (8 h used),
    # resolved from pending Fri 17 Jan 12:00 Paris (11:00 UTC): it was due Wed 15 Jan 16:00 UTC.
    number = open_at(uow, paris(2025, 1, 13, 9))
    set_status(uow, number, Status.PENDING, paris(2025, 1, 14, 9))
    t = resolve(uow, number, paris(2025, 1, 17, 12))
    assert t.status is Status.RESOLVED and t.pending_since is None
    # paused: Tue 8 + Wed 8 + Thu 8 + Fri 09-12 3 = 27 h
    assert t.paused_seconds == 27 * 3600
    # due: 24 + 27 = 51 h from Mon 09:00 = 48 h (Mon 13 - Mon 20) + Tue 21 09:00 + 3 h = 12:00 Paris
    assert_instant(t.resolution_due, utc(2025, 1, 21, 11))
    assert t.sla_state is SlaState.MET
    # business: Mon-Thu 32 h + Fri 3 h = 35 h, minus 27 h paused = 8 h (the Monday)
    assert t.resolution_business_seconds == 8 * 3600
    # wall clock: Mon 08:00 -> Fri 11:00 UTC = 4 days 3 h = 99 h
    assert t.resolution_seconds == 99 * 3600


def test_pending_ticket_gets_no_resolution_alert(uow: UnitOfWork, paris_desk: str) -> None:
    alice = add_agent(uow, "alice", PARIS_DESK)
    # P3 opened Mon 13 Jan 09:00 Paris, answered at 09:30 Paris, pending from 10:00 Paris (09:00 UTC).
    # Its resolution was due Wed 15 Jan 17:00 Paris (16:00 UTC).
    number = open_at(uow, paris(2025, 1, 13, 9))
    agent_reply(uow, number, "reply", paris(2025, 1, 13, 9, 30), alice)
    set_status(uow, number, Status.PENDING, paris(2025, 1, 13, 10))

    assert scan(uow, utc(2025, 1, 15, 11, 12)) == []  # the old warning instant
    assert scan(uow, utc(2025, 1, 15, 16)) == []  # the old due instant
    assert scan(uow, utc(2025, 1, 16, 12)) == []  # well past it, still pending
    assert load(uow, number).sla_state is SlaState.OK

    # The requester answers; the ticket is open again Fri 17 Jan 09:00 Paris (08:00 UTC).
    # Paused: Mon 10-17 (7 h) + Tue 8 + Wed 8 + Thu 8 = 31 h.
    t = set_status(uow, number, Status.OPEN, paris(2025, 1, 17, 9))
    assert t.paused_seconds == 31 * 3600
    # 1 h of the 24 h was used on Monday; 23 h remain from Fri 09:00: Fri 8, Mon 20 8, Tue 21 09:00 + 7 h
    # = Tue 21 Jan 16:00 Paris = 15:00 UTC.  (Also: 24 + 31 = 55 h from Mon 13 09:00.)
    assert_instant(t.resolution_due, utc(2025, 1, 21, 15))
    # warning: 19h12 + 31 h = 50h12 = 48 h (Mon 13 - Mon 20) + Tue 21 09:00 + 2h12 = 11:12 Paris = 10:12 UTC
    assert_instant(t.resolution_warn_at, utc(2025, 1, 21, 10, 12))

    assert scan(uow, utc(2025, 1, 17, 8)) == []
    assert scan(uow, utc(2025, 1, 21, 10, 11)) == []
    assert [(a.kind, a.level, a.due) for a in scan(uow, utc(2025, 1, 21, 10, 12))] == [
        (SlaKind.RESOLUTION, SlaLevel.WARNING, utc(2025, 1, 21, 15))
    ]
    assert [(a.kind, a.level, a.due) for a in scan(uow, utc(2025, 1, 21, 15))] == [
        (SlaKind.RESOLUTION, SlaLevel.BREACH, utc(2025, 1, 21, 15))
    ]


# --------------------------------------------------------------------------- met, missed, reopen


def test_resolving_on_time_is_met_and_late_is_missed(uow: UnitOfWork, paris_desk: str) -> None:
    alice = add_agent(uow, "alice", PARIS_DESK)
    # Two P2 tickets opened Tue 14 Jan 10:00 Paris (09:00 UTC), answered at once.
    # Resolution 8 h: Tue 10-17 (7 h) + Wed 09:00 + 1 h = Wed 15 Jan 10:00 Paris = 09:00 UTC.
    on_time = open_at(uow, paris(2025, 1, 14, 10), priority=P2)
    late = open_at(uow, paris(2025, 1, 14, 10), priority=P2)
    for number in (on_time, late):
        agent_reply(uow, number, f"reply-{number}", paris(2025, 1, 14, 10, 5), alice)
        assert_instant(load(uow, number).resolution_due, utc(2025, 1, 15, 9))

    # Resolved at the due instant itself: still on time.
    t = resolve(uow, on_time, utc(2025, 1, 15, 9))
    assert t.status is Status.RESOLVED and t.resolution_code is ResolutionCode.AGENT
    assert t.sla_state is SlaState.MET
    assert t.resolution_seconds == 24 * 3600
    assert t.resolution_business_seconds == 8 * 3600

    # The monitor reports the other one (the resolved ticket is no longer watched) ...
    alerts = scan(uow, utc(2025, 1, 15, 9, 0, 30))
    assert [(a.ticket_number, a.kind, a.level) for a in alerts] == [
        (late, SlaKind.RESOLUTION, SlaLevel.WARNING),
        (late, SlaKind.RESOLUTION, SlaLevel.BREACH),
    ]
    assert load(uow, late).sla_state is SlaState.BREACHED
    # ... which is resolved a minute after its due instant: missed.
    t = resolve(uow, late, utc(2025, 1, 15, 9, 1))
    assert t.sla_state is SlaState.MISSED
    assert t.resolution_seconds == 24 * 3600 + 60
    # Tue 10-17 (7 h) + Wed 09:00-10:01 Paris (1h01) = 8h01
    assert t.resolution_business_seconds == 8 * 3600 + 60


WEEK = dt.timedelta(days=7)


def test_reopen_inside_the_window_and_refused_outside(uow: UnitOfWork, paris_desk: str) -> None:
    # Three P3 tickets opened Mon 13 Jan 09:00 Paris (08:00 UTC), resolution due Wed 15 Jan 16:00 UTC,
    # each resolved Mon 13 Jan 10:00 UTC. The reopen window is 7 days.
    soon, edge, too_late = (open_at(uow, paris(2025, 1, 13, 9)) for _ in range(3))
    for number in (soon, edge, too_late):
        assert resolve(uow, number, utc(2025, 1, 13, 10)).sla_state is SlaState.MET

    # Reopened the next day, before the resolution due instant.
    t = set_status(uow, soon, Status.OPEN, utc(2025, 1, 14, 9), reopen_window=WEEK)
    assert t.status is Status.OPEN
    assert t.reopen_count == 1
    assert t.resolved_at is None and t.resolution_code is None
    assert t.resolution_seconds is None and t.resolution_business_seconds is None
    assert t.sla_state is SlaState.OK
    # and resolved again Tue 14 Jan 12:00 UTC, still before Wed 16:00 UTC
    t = resolve(uow, soon, utc(2025, 1, 14, 12))
    assert t.sla_state is SlaState.MET and t.reopen_count == 1
    assert t.resolution_seconds == 28 * 3600  # Mon 08:00 -> Tue 12:00 UTC

    # Exactly 7 days after the resolution (Mon 20 Jan 10:00 UTC) is still inside the window;
    # by then the resolution due instant (Wed 15 Jan) has passed.
    t = set_status(uow, edge, Status.OPEN, utc(2025, 1, 20, 10), reopen_window=WEEK)
    assert t.status is Status.OPEN and t.reopen_count == 1
    assert t.sla_state is SlaState.BREACHED

    # One second later is outside: refused, and nothing changes.
    with pytest.raises(InvalidTransition):
        set_status(uow, too_late, Status.OPEN, utc(2025, 1, 20, 10, 0, 1), reopen_window=WEEK)
    t = load(uow, too_late)
    assert t.status is Status.RESOLVED and t.reopen_count == 0
    assert_instant(t.resolved_at, utc(2025, 1, 13, 10))

    # A closed ticket is never reopened.
    set_status(uow, too_late, Status.CLOSED, utc(2025, 1, 20, 11))
    with pytest.raises(InvalidTransition):
        set_status(uow, too_late, Status.OPEN, utc(2025, 1, 20, 11, 1))
    t = load(uow, too_late)
    assert t.status is Status.CLOSED and t.reopen_count == 0
