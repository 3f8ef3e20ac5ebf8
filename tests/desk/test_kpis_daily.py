"""Daily KPI series (desk.kpis.daily) on SQLite and PostgreSQL: what a day is, and that days add up to the period.

The seed: March 2026, UTC. A day is the UTC date of a ticket's creation.

 ticket  created (UTC)      channel  intent (bot / agent)          what happens
 A       Sun 1 23:59:59     email    vpn_connection                resolved Mon 2 10:00, CSAT 5
 B       Mon 2 00:00:00     slack    vpn_connection -> wifi_conn.  closed self-service Mon 2 00:30
 C       Mon 2 13:00        slack    -                             closed potential deflection Tue 3 13:00
 D       Mon 2 14:00        email    printer_problem               resolved Mon 2 15:00, reopened, resolved Tue 3, CSAT 2
 E       Wed 4 09:00        webchat  -                             still new
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields

import pytest
from sqlalchemy import text

from desk import UnitOfWork, kpis, people, tickets
from desk.domain import AuthorKind, Direction, ResolutionCode, Status
from desk.kpis import Counts, InvalidPeriod, Ratio

MARCH = dt.date(2026, 3, 1)


def at(day: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, h, mi, s, tzinfo=dt.UTC)


def seed(uow: UnitOfWork) -> None:
    def open_(created: dt.datetime, channel: str, intent: str | None) -> int:
        with uow() as session:
            requester = people.resolve_requester(session=session, channel="email", external_id="a@corp.example",
                                                 email="a@corp.example", email_verified=True)
            ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject="Broken",
                                         channel=channel, actor="test", intent=intent, auto_assign=False,
                                         now=created)
            tickets.add_message(session=session, idempotency_key=f"in{ticket.number}", ticket=ticket,
                                channel=channel, direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER,
                                text="help", now=created)
            return ticket.number

    def status(number: int, to: Status, when: dt.datetime, code: ResolutionCode | None = None) -> None:
        with uow() as session:
            tickets.change_status(session=session, number=number, status=to, actor="test", resolution_code=code,
                                  reopen_window=dt.timedelta(days=7), now=when)

    def csat(number: int, score: int) -> None:
        with uow() as session:
            tickets.record_csat(session=session, number=number, score=score, actor="requester")

    a = open_(at(1, 23, 59, 59), "email", "vpn_connection")
    status(a, Status.RESOLVED, at(2, 10), ResolutionCode.AGENT)
    csat(a, 5)
    b = open_(at(2), "slack", "vpn_connection")
    with uow() as session:
        tickets.confirm_intent(session=session, number=b, intent="wifi_connection", actor="user:alice")
    status(b, Status.CLOSED, at(2, 0, 30), ResolutionCode.SELF_SERVICE)
    c = open_(at(2, 13), "slack", None)
    status(c, Status.CLOSED, at(3, 13), ResolutionCode.POTENTIAL_DEFLECTION)
    d = open_(at(2, 14), "email", "printer_problem")
    status(d, Status.RESOLVED, at(2, 15), ResolutionCode.AGENT)
    status(d, Status.OPEN, at(3, 9))
    status(d, Status.RESOLVED, at(3, 10), ResolutionCode.AGENT)
    csat(d, 2)
    open_(at(4, 9), "webchat", None)


def _sum(days: list[kpis.Day]) -> dict[str, int]:
    return {f.name: sum(getattr(d, f.name) for d in days) for f in fields(Counts)}


def test_a_day_is_the_utc_date_of_creation_and_quiet_days_are_listed(uow: UnitOfWork) -> None:
    seed(uow)
    with uow() as session:
        if session.get_bind().dialect.name == "postgresql":  # a session far from UTC must not move a ticket's day
            session.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))
        days = kpis.daily(session=session, since=MARCH, until=dt.date(2026, 3, 6))
    assert [(d.day.day, d.tickets) for d in days] == [(1, 1), (2, 3), (3, 0), (4, 1), (5, 0)]
    sunday, monday, tuesday = days[0], days[1], days[2]
    assert sunday.by_channel == {"email": 1} and sunday.by_intent == {"vpn_connection": 1}
    assert monday.by_channel == {"email": 1, "slack": 2}
    # the agent's label wins over the bot's; a ticket with neither is counted apart
    assert monday.by_intent == {kpis.NO_INTENT: 1, "printer_problem": 1, "wifi_connection": 1}
    assert tuesday.by_channel == {} and tuesday.by_intent == {} and tuesday.first_contact_resolution == Ratio(0, 0)
    # Monday: B (self-service, one message) resolved at first contact, C too (closed, one message), D reopened
    assert monday.first_contact_resolution == Ratio(2, 3)
    assert monday.self_service_rate == Ratio(1, 3) and monday.potential_deflection_rate == Ratio(1, 3)
    assert monday.reopen_rate == Ratio(1, 3) and monday.csat_satisfied == Ratio(0, 1) and monday.csat_average == 2
    # B 30 min, C 24 h, D Mon 14:00 -> Tue 10:00 = 20 h: 44.5 h / 3
    assert monday.mean_time_to_resolve_hours == pytest.approx(44.5 / 3)
    assert sunday.mean_time_to_resolve_hours == pytest.approx(10 + 1 / 3600)
    assert sunday.csat_average == 5 and days[3].mean_time_to_resolve_hours is None


def test_the_days_of_a_period_add_up_to_the_period(uow: UnitOfWork) -> None:
    seed(uow)
    since, until = dt.date(2026, 2, 27), dt.date(2026, 3, 5)
    with uow() as session:
        days = kpis.daily(session=session, since=since, until=until)
        period = kpis.compute(session=session, since=kpis.start_of(since), until=kpis.start_of(until))
        assert kpis.compute(session=session).tickets == period.tickets == 5
    assert len(days) == 6 and _sum(days) == {f.name: getattr(period, f.name) for f in fields(Counts)}
    assert all(sum(d.by_channel.values()) == sum(d.by_intent.values()) == d.tickets for d in days)
    assert period.mean_business_time_to_resolve_hours == pytest.approx(
        sum(d.resolution_business_seconds for d in days) / sum(d.resolved for d in days) / 3600)
    # the period's edges are UTC midnights: A (Sun 23:59:59) falls out of a period from Monday
    with uow() as session:
        assert [d.tickets for d in kpis.daily(session=session, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 3))] == [3]
        assert kpis.compute(session=session, since=at(2), until=at(3)).tickets == 3


def test_a_period_must_end_after_it_starts_and_a_series_has_a_length_limit(uow: UnitOfWork) -> None:
    with uow() as session:
        for since, until, words in ((MARCH, MARCH, "must come after since"),
                                    (MARCH, MARCH - dt.timedelta(days=1), "must come after since"),
                                    (MARCH, MARCH + dt.timedelta(days=kpis.MAX_DAYS + 1), "at most")):
            with pytest.raises(InvalidPeriod, match=words):
                kpis.daily(session=session, since=since, until=until)
        longest = kpis.daily(session=session, since=MARCH, until=MARCH + dt.timedelta(days=kpis.MAX_DAYS))
    assert len(longest) == kpis.MAX_DAYS and not any(d.tickets for d in longest)
