"""Business-hours calendar used to count SLA time.

A :class:`BusinessCalendar` describes when the service desk is open: a time
zone, a set of weekly opening intervals (:class:`WorkingDay`, several per
weekday for a lunch break) and holidays (local dates that are fully closed).
It answers four questions about real instants:

* :meth:`BusinessCalendar.is_open` -- is the desk open at this instant?
* :meth:`BusinessCalendar.next_open` -- the first open instant at/after it;
* :meth:`BusinessCalendar.add` -- when has a given amount of business time
  elapsed after a start instant (an SLA due date);
* :meth:`BusinessCalendar.between` -- how much business time lies between
  two instants (SLA time consumed).

Every datetime going in must be timezone-aware (a naive one raises
``ValueError("naive datetime ...")``); every datetime coming out is in UTC.

Opening hours are wall-clock times in the calendar's own time zone, so a
09:00-17:00 day is 8 hours on either side of a DST change.  Business time is
real elapsed time: each local interval is turned into the pair of real
instants at which it starts and ends, and the time between them counts.  The
wall-clock -> instant mapping is monotonic, which keeps DST edge cases sane:

* a wall time that does not exist (skipped by a spring-forward change) maps to
  the instant of the change, i.e. the first wall time that does exist -- so
  "02:00-10:00" on the spring-forward day in Paris opens at 03:00 CEST and
  lasts 7 real hours, and an interval lying wholly in the gap is closed;
* a wall time that repeats (fall-back change) means its first occurrence -- so
  "00:00-05:00" on the fall-back day lasts 6 real hours and the repeated hour
  is open both times.

An interval ending at ``time(0)`` (midnight) runs to the end of the day
("24:00"), which is how a full day -- and :meth:`BusinessCalendar.always_open`
-- is written.

Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["WorkingDay", "BusinessCalendar"]

_UTC = timezone.utc
_DAY = timedelta(days=1)
_ZERO = timedelta(0)

# A working weekday that yields no open time at all is only possible when its
# intervals fall wholly inside DST gaps; this many in a row (holidays aside)
# means the calendar can never open again.
_MAX_DEAD_DAYS = 60

_DAY_NAMES = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")


def _of_day(t: time) -> timedelta:
    """Offset of a wall-clock time from local midnight."""
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _end_of_day(t: time) -> timedelta:
    """Offset of an interval end; ``time(0)`` means 24:00 (end of the day)."""
    return _DAY if t == time(0) else _of_day(t)


def _fmt(t: time) -> str:
    return t.isoformat(timespec="minutes") if not (t.second or t.microsecond) else t.isoformat()


@dataclass(frozen=True)
class WorkingDay:
    """One open interval ``[start, end)`` of a weekday (0 = Monday .. 6 = Sunday).

    ``end`` must be after ``start``; ``end == time(0)`` means midnight at the
    end of the day (24:00).  Intervals never run overnight: split them into
    two (``mon 22:00-24:00`` and ``tue 00:00-06:00``).
    """

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if isinstance(self.weekday, bool) or not isinstance(self.weekday, int) or not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be an int 0 (Monday) .. 6 (Sunday), got {self.weekday!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise TypeError(f"WorkingDay.{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"WorkingDay.{name} must be a naive wall-clock time, got {value!r}")
        if _end_of_day(self.end) <= _of_day(self.start):
            raise ValueError(
                f"working interval end must be after its start (no overnight intervals; split them): "
                f"{_fmt(self.start)}-{_fmt(self.end)}"
            )


@dataclass(frozen=True)
class BusinessCalendar:
    """When the desk is open: local working hours per weekday, minus holidays."""

    timezone: str
    working_hours: tuple[WorkingDay, ...]
    holidays: frozenset[date] = frozenset()

    # Derived state, computed once in __post_init__.
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    # weekday -> sorted, merged, non-touching (start, end) offsets from local midnight
    _week: tuple[tuple[tuple[timedelta, timedelta], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _open_24x7: bool = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.timezone, str) or not self.timezone:
            raise ValueError(f"invalid time zone {self.timezone!r}")
        try:
            zone = ZoneInfo(self.timezone)
        except Exception as exc:  # ZoneInfoNotFoundError (a KeyError), ValueError for odd paths, ...
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

        hours = tuple(self.working_hours)
        for wd in hours:
            if not isinstance(wd, WorkingDay):
                raise TypeError(f"working_hours must hold WorkingDay objects, got {wd!r}")
        if not hours:
            raise ValueError("calendar has no working hours")

        holidays = frozenset(self.holidays)
        for day in holidays:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"holidays must be datetime.date objects, got {day!r}")

        week: list[list[tuple[timedelta, timedelta]]] = [[] for _ in range(7)]
        for wd in hours:
            week[wd.weekday].append((_of_day(wd.start), _end_of_day(wd.end)))
        merged: list[tuple[tuple[timedelta, timedelta], ...]] = []
        for spans in week:
            out: list[tuple[timedelta, timedelta]] = []
            for start, end in sorted(spans):
                if out and start <= out[-1][1]:  # overlapping or touching: one interval
                    out[-1] = (out[-1][0], max(out[-1][1], end))
                else:
                    out.append((start, end))
            merged.append(tuple(out))

        object.__setattr__(self, "working_hours", hours)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_week", tuple(merged))
        object.__setattr__(
            self, "_open_24x7", not holidays and all(spans == ((_ZERO, _DAY),) for spans in merged)
        )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def always_open(cls) -> "BusinessCalendar":
        """A 24x7 calendar (UTC, no holidays): ``add`` is plain addition."""
        return cls(
            timezone="UTC",
            working_hours=tuple(WorkingDay(day, time(0), time(0)) for day in range(7)),
        )

    @classmethod
    def office_hours(
        cls,
        *,
        timezone: str,
        start: time = time(9),
        end: time = time(17),
        weekdays: Iterable[int] = range(5),
        holidays: Iterable[date] = (),
    ) -> "BusinessCalendar":
        """The same ``start``-``end`` interval on each of ``weekdays`` (Monday-Friday by default)."""
        days = sorted(set(weekdays))
        return cls(
            timezone=timezone,
            working_hours=tuple(WorkingDay(day, start, end) for day in days),
            holidays=frozenset(holidays),
        )

    @classmethod
    def parse_hours(cls, spec: str) -> tuple[WorkingDay, ...]:
        """Parse a weekly hours spec into WorkingDays.

        Clauses are separated by ``;``; each is a day list then a list of
        intervals: ``"mon-fri 09:00-17:00; sat 10:00-14:00"``,
        ``"mon-thu 08:30-12:00,13:00-17:30; fri 08:30-12:00"``.  Days are
        ``mon``..``sun`` (or full names, any case), alone, as ranges
        (``mon-fri``; ``fri-mon`` wraps round the weekend) or comma-separated
        (``mon,wed,fri``).  Times are ``HH:MM``; ``24:00`` ends a day.
        Raises ValueError naming the bad part.
        """
        if not isinstance(spec, str):
            raise TypeError(f"hours spec must be a string, got {spec!r}")
        result: list[WorkingDay] = []
        clauses = [clause.strip() for clause in spec.split(";")]
        for clause in clauses:
            if not clause:
                continue
            digit = re.search(r"\d", clause)
            days_part = clause[: digit.start()] if digit else clause
            hours_part = clause[digit.start():] if digit else ""
            days_part = re.sub(r"\s+", "", days_part)
            hours_part = re.sub(r"\s+", "", hours_part)
            if not days_part:
                raise ValueError(f"missing days in hours spec clause {clause!r}")
            if not hours_part:
                raise ValueError(f"missing hours in hours spec clause {clause!r}")
            days = _parse_days(days_part, clause)
            spans = _parse_spans(hours_part, clause)
            for day in days:
                for start, end in spans:
                    result.append(WorkingDay(day, start, end))
        if not result:
            raise ValueError(f"empty hours spec {spec!r}")
        result.sort(key=lambda wd: (wd.weekday, _of_day(wd.start), _end_of_day(wd.end)))
        return tuple(dict.fromkeys(result))  # drop exact duplicates, keep order

    # ------------------------------------------------------------------ queries

    def is_open(self, at: datetime) -> bool:
        """Whether the desk is open at the instant ``at``."""
        instant = _as_utc(at)
        if self._open_24x7:
            return True
        for start, end in self._spans_from(instant):
            return start <= instant  # the first span ending after `instant`
        raise AssertionError("unreachable")  # _spans_from never ends

    def next_open(self, at: datetime) -> datetime:
        """The first open instant at or after ``at`` (``at`` itself if open), in UTC."""
        instant = _as_utc(at)
        if self._open_24x7:
            return instant
        for start, _end in self._spans_from(instant):
            return max(start, instant)
        raise AssertionError("unreachable")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant (UTC) at which ``duration`` of business time has elapsed after ``start``.

        Counting begins at ``start`` if the desk is open then, else at the
        next opening; a zero duration gives that next open instant.  When the
        duration runs out exactly at a closing time, the closing time is
        returned (Friday 13:00 + 4h on a 09-17 calendar is Friday 17:00).
        """
        instant = _as_utc(start)
        if not isinstance(duration, timedelta):
            raise TypeError(f"duration must be a timedelta, got {duration!r}")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration!r}")
        if self._open_24x7:
            return instant + duration
        remaining = duration
        for span_start, span_end in self._spans_from(instant):
            span_start = max(span_start, instant)
            length = span_end - span_start
            if remaining <= length:
                return span_start + remaining
            remaining -= length
        raise AssertionError("unreachable")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed in ``[start, end)``; zero if ``end <= start``."""
        lo, hi = _as_utc(start), _as_utc(end)
        if hi <= lo:
            return _ZERO
        if self._open_24x7:
            return hi - lo
        total = _ZERO
        for span_start, span_end in self._spans_from(lo):
            if span_start >= hi:
                break
            total += min(span_end, hi) - max(span_start, lo)
            if span_end >= hi:
                break
        return total

    # ------------------------------------------------------------------ internals

    def _spans_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC, chronological, non-empty) that end after ``instant``.

        Endless; raises ValueError if the calendar can never open again.
        """
        day = instant.astimezone(self._zone).date() - _DAY  # a day early: safe around DST at midnight
        dead = 0
        while True:
            spans = self._week[day.weekday()]
            if spans and day not in self.holidays:
                found = False
                midnight = datetime.combine(day, time())
                for start, end in spans:
                    utc_start = self._to_utc(midnight + start)
                    utc_end = self._to_utc(midnight + end)
                    if utc_end <= utc_start:  # wholly inside a DST gap
                        continue
                    found = True
                    if utc_end > instant:
                        yield utc_start, utc_end
                if found:
                    dead = 0
                else:
                    dead += 1
                    if dead > _MAX_DEAD_DAYS:
                        raise ValueError(f"calendar is never open after {day.isoformat()}")
            day += _DAY

    def _to_utc(self, wall: datetime) -> datetime:
        """Map a naive local wall time to a UTC instant (monotonic in ``wall``).

        Repeated wall times take their first occurrence; wall times skipped by
        a DST change map to the instant of the change.
        """
        zone = self._zone
        utc = wall.replace(tzinfo=zone).astimezone(_UTC)  # fold=0
        if utc.astimezone(zone).replace(tzinfo=None) == wall:
            return utc
        # `wall` lies in a gap.  With fold=0 it was read with the offset from
        # before the change (an instant after it); with fold=1, with the
        # offset from after (an instant before it).  Bisect for the change.
        before = wall.replace(tzinfo=zone, fold=1).astimezone(_UTC)
        after_offset = utc.astimezone(zone).utcoffset()
        lo = int(before.timestamp()) - 1  # offset here is still the old one
        hi = int(utc.timestamp()) + 1  # offset here is already the new one
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, _UTC).astimezone(zone).utcoffset() == after_offset:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, _UTC)


def _as_utc(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give a timezone-aware datetime")
    return at.astimezone(_UTC)


def _parse_day(token: str, clause: str) -> int:
    try:
        return _DAY_NAMES[token.lower()]
    except KeyError:
        raise ValueError(f"unknown day {token!r} in hours spec clause {clause!r}") from None


def _parse_days(part: str, clause: str) -> list[int]:
    days: list[int] = []
    for item in part.split(","):
        if not item:
            raise ValueError(f"empty day in {part!r} in hours spec clause {clause!r}")
        first, sep, last = item.partition("-")
        if sep:
            if not first or not last or "-" in last:
                raise ValueError(f"bad day range {item!r} in hours spec clause {clause!r}")
            lo, hi = _parse_day(first, clause), _parse_day(last, clause)
            count = (hi - lo) % 7 + 1  # "fri-mon" wraps round the weekend
            days.extend((lo + i) % 7 for i in range(count))
        else:
            days.append(_parse_day(item, clause))
    return sorted(set(days))


def _parse_time(text: str, clause: str, *, end: bool) -> time:
    match = _TIME_RE.fullmatch(text)
    if not match:
        raise ValueError(f"bad time {text!r} (expected HH:MM) in hours spec clause {clause!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if end and hour == 24 and minute == 0:
        return time(0)  # 24:00: end of the day
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time {text!r} (out of range) in hours spec clause {clause!r}")
    return time(hour, minute)


def _parse_spans(part: str, clause: str) -> list[tuple[time, time]]:
    spans: list[tuple[time, time]] = []
    for item in part.split(","):
        first, sep, last = item.partition("-")
        if not sep or not first or not last:
            raise ValueError(f"bad interval {item!r} (expected HH:MM-HH:MM) in hours spec clause {clause!r}")
        start = _parse_time(first, clause, end=False)
        end = _parse_time(last, clause, end=True)
        if _end_of_day(end) <= _of_day(start):
            raise ValueError(
                f"bad interval {item!r} (end must be after start; split overnight hours) "
                f"in hours spec clause {clause!r}"
            )
        spans.append((start, end))
    return spans
