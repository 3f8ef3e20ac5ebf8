"""Rate limits in the database: fixed-window counters that every process shares and a restart keeps.

A hit is one upsert per limit (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on SQLite and
PostgreSQL), so two processes counting the same key at once get exact counts; a hit that would pass
any of its limits counts against none of them (a savepoint rolls it back), so a client refused on
one limit does not use up another. Rows of ended windows are pruned by the hits themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desk._base import conflict_insert
from desk.models import RateCounter


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` events of ``scope`` for ``key`` in each ``window`` (whole seconds, aligned to the epoch)."""

    scope: str
    key: str
    limit: int
    window: dt.timedelta


def hit(*, session: Session, limits: Sequence[Limit], now: dt.datetime) -> dt.timedelta | None:
    """Count one event against every limit and return None; or, if any limit is reached, count nothing
    and return how long until all of them have room again."""
    session.execute(delete(RateCounter).where(RateCounter.expires_at <= now))
    savepoint = session.begin_nested()
    try:
        waits = [_window_end(now, limit.window) - now
                 # one order for every process: two hits on the same keys never wait for each other's locks in turn
                 for limit in sorted(limits, key=lambda limit: (limit.scope, limit.key))
                 if _increment(session, limit, now) > limit.limit]
    except BaseException:
        savepoint.rollback()
        raise
    if waits:
        savepoint.rollback()
        return max(waits)
    savepoint.commit()
    return None


def blocked_for(*, session: Session, limits: Sequence[Limit], now: dt.datetime) -> dt.timedelta | None:
    """How long until every limit has room for one more event (None: it has now); counts nothing."""
    waits = [_window_end(now, limit.window) - now for limit in limits
             if _count(session, limit, now) >= limit.limit]
    return max(waits, default=None)


def _window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    seconds = max(1, int(window.total_seconds()))
    return dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, dt.UTC)


def _window_end(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    return _window_start(now, window) + dt.timedelta(seconds=max(1, int(window.total_seconds())))


def _count(session: Session, limit: Limit, now: dt.datetime) -> int:
    return session.scalar(select(RateCounter.count).where(
        RateCounter.scope == limit.scope, RateCounter.key == limit.key,
        RateCounter.window_start == _window_start(now, limit.window))) or 0


def _increment(session: Session, limit: Limit, now: dt.datetime) -> int:
    """The window's count after adding one."""
    start = _window_start(now, limit.window)
    statement = conflict_insert(session, RateCounter).values(
        scope=limit.scope, key=limit.key, window_start=start, count=1, expires_at=_window_end(now, limit.window))
    statement = statement.on_conflict_do_update(
        index_elements=[RateCounter.scope, RateCounter.key, RateCounter.window_start],
        set_={"count": RateCounter.count + 1},
    ).returning(RateCounter.count)
    return session.scalar(statement)
