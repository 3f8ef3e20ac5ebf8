"""Rate limits in the database: counted per window, refused hits count nothing, exact under concurrency."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from desk import UnitOfWork, limits
from desk.models import RateCounter

HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 12, 1, 10, 15, tzinfo=dt.UTC)


def _hit(uow: UnitOfWork, *checks: limits.Limit, now: dt.datetime = T0) -> dt.timedelta | None:
    with uow() as session:
        return limits.hit(session=session, limits=checks, now=now)


def test_a_limit_allows_its_count_per_window_and_then_says_how_long_to_wait(uow: UnitOfWork) -> None:
    per_ip = limits.Limit("codes.ip", "10.0.0.1", 3, HOUR)
    assert [_hit(uow, per_ip) for _ in range(3)] == [None, None, None]
    assert _hit(uow, per_ip) == dt.timedelta(minutes=45)  # the window is 10:00-11:00
    assert _hit(uow, limits.Limit("codes.ip", "10.0.0.2", 3, HOUR)) is None  # another key has its own count
    assert _hit(uow, per_ip, now=T0 + HOUR) is None  # the next window starts afresh
    with uow() as session:
        assert limits.blocked_for(session=session, limits=[per_ip], now=T0 + HOUR) is None


def test_a_refused_hit_counts_against_none_of_its_limits(uow: UnitOfWork) -> None:
    everyone = limits.Limit("codes.all", "", 10, HOUR)
    per_address = limits.Limit("codes.address", "ann@corp.example", 1, HOUR)
    assert _hit(uow, everyone, per_address) is None
    for _ in range(5):
        assert _hit(uow, everyone, per_address) is not None
    with uow() as session:
        assert session.scalar(select(RateCounter.count).where(RateCounter.scope == "codes.all")) == 1
        assert limits.blocked_for(session=session, limits=[everyone], now=T0) is None
        assert limits.blocked_for(session=session, limits=[everyone, per_address], now=T0) == dt.timedelta(minutes=45)


def test_ended_windows_are_pruned(uow: UnitOfWork) -> None:
    for n in range(5):
        _hit(uow, limits.Limit("sessions.ip", f"10.0.0.{n}", 30, HOUR))
    _hit(uow, limits.Limit("sessions.ip", "10.0.0.9", 30, HOUR), now=T0 + 2 * HOUR)
    with uow() as session:
        assert session.scalar(select(func.count()).select_from(RateCounter)) == 1


def test_processes_hitting_at_once_get_exact_counts(uow: UnitOfWork) -> None:
    limit = limits.Limit("codes.all", "", 25, HOUR)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _hit(uow, limit), range(60)))
    assert results.count(None) == 25
