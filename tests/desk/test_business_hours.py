"""Tests for desk.business_hours: SLA business-time arithmetic.

Every expected value is worked out by hand in the test; the 2025 calendar:
  January 2025: Fri 3, Sat 4, Sun 5, Mon 6, Tue 7 ... Mon 13; Feb: Fri 14, Mon 17.
  March 2025: Mon 3, Fri 28, Sat 29, Sun 30 (EU spring forward: 02:00 CET -> 03:00 CEST,
              i.e. 01:00 UTC), Mon 31.  April 2025: Mon 21, Fri 25, Mon 28.
  October 2025: Fri 24, Sat 25, Sun 26 (EU fall back: 03:00 CEST -> 02:00 CET, 01:00 UTC), Mon 27.
  July 2025: Fri 11, Mon 14.
CET = UTC+1, CEST = UTC+2, EST = UTC-5, EDT = UTC-4.
"""

from __future__ import annotations

import time as _clock
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from desk.business_hours import BusinessCalendar, WorkingDay

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def office(**kwargs) -> BusinessCalendar:
    """Mon-Fri 09:00-17:00, Paris, unless overridden."""
    kwargs.setdefault("timezone", "Europe/Paris")
    return BusinessCalendar.office_hours(**kwargs)


def assert_utc(value: datetime, expected: datetime) -> None:
    assert value == expected, (value, expected)
    assert value.utcoffset() == timedelta(0)
    assert value.tzinfo is UTC


# --------------------------------------------------------------------------- add()


def test_friday_afternoon_ticket_is_due_monday_noon():
    cal = office()
    # Fri 16:00-17:00 = 1h, weekend closed, Mon 09:00-12:00 = 3h -> 4h at Mon 12:00 CET = 11:00 UTC
    due = cal.add(paris(2025, 1, 3, 16), 4 * H)
    assert_utc(due, utc(2025, 1, 6, 11))
    assert due == paris(2025, 1, 6, 12)


def test_add_within_one_day_and_ending_exactly_at_closing():
    cal = office()
    # Mon 10:00 + 3h = Mon 13:00 CET (12:00 UTC)
    assert cal.add(paris(2025, 1, 6, 10), 3 * H) == paris(2025, 1, 6, 13)
    # Fri 13:00 + 4h runs out exactly at closing: Fri 17:00, not Monday 09:00
    assert cal.add(paris(2025, 1, 3, 13), 4 * H) == paris(2025, 1, 3, 17)
    # Fri 13:00 + 4h 1min: 4h to closing, then 1 min on Monday -> Mon 09:01
    assert cal.add(paris(2025, 1, 3, 13), 4 * H + timedelta(minutes=1)) == paris(2025, 1, 6, 9, 1)


def test_ticket_opened_on_saturday_counts_from_monday_opening():
    cal = office()
    # Sat 10:00 is closed: counting starts Mon 09:00; 09:00 + 4h = Mon 13:00 CET = 12:00 UTC
    assert_utc(cal.add(paris(2025, 1, 4, 10), 4 * H), utc(2025, 1, 6, 12))
    # Friday evening 18:00 is after hours too: same answer
    assert cal.add(paris(2025, 1, 3, 18), 4 * H) == paris(2025, 1, 6, 13)
    # Monday 07:00 (before opening): 09:00 + 4h = 13:00
    assert cal.add(paris(2025, 1, 6, 7), 4 * H) == paris(2025, 1, 6, 13)


def test_zero_duration_is_next_open_instant():
    cal = office()
    # open at Mon 10:00: the instant itself
    assert cal.add(paris(2025, 1, 6, 10), timedelta(0)) == paris(2025, 1, 6, 10)
    # Saturday: next opening Mon 09:00 CET = 08:00 UTC
    assert_utc(cal.add(paris(2025, 1, 4, 10), timedelta(0)), utc(2025, 1, 6, 8))
    # exactly at closing time Fri 17:00 the desk is closed ([09:00, 17:00)): Monday 09:00
    assert cal.add(paris(2025, 1, 3, 17), timedelta(0)) == paris(2025, 1, 6, 9)


def test_negative_duration_rejected():
    with pytest.raises(ValueError, match="negative"):
        office().add(paris(2025, 1, 6, 10), -H)


def test_holiday_monday_pushes_due_date_to_tuesday():
    cal = office(holidays=[date(2025, 1, 6)])
    # Fri 16:00-17:00 = 1h, Mon 6 is a holiday, Tue 09:00-12:00 = 3h -> Tue 12:00 CET = 11:00 UTC
    assert_utc(cal.add(paris(2025, 1, 3, 16), 4 * H), utc(2025, 1, 7, 11))
    # opened on the holiday itself: counts from Tue 09:00 -> Tue 13:00
    assert cal.add(paris(2025, 1, 6, 10), 4 * H) == paris(2025, 1, 7, 13)
    assert not cal.is_open(paris(2025, 1, 6, 10))
    assert cal.next_open(paris(2025, 1, 6, 10)) == paris(2025, 1, 7, 9)


def test_holiday_is_a_local_date():
    # New York holiday Mon 2025-01-13.  Mon 13 14:30 UTC = 09:30 EST, on the holiday: closed.
    # Tue 14 02:00 UTC is already Tuesday in UTC but still Mon 13 21:00 EST locally (the holiday),
    # so the next opening is Tue 14 09:00 EST = 14:00 UTC.
    cal = BusinessCalendar.office_hours(timezone="America/New_York", holidays=[date(2025, 1, 13)])
    assert not cal.is_open(utc(2025, 1, 13, 14, 30))
    assert_utc(cal.next_open(utc(2025, 1, 14, 2)), utc(2025, 1, 14, 14))


# --------------------------------------------------------------------------- time zones


def test_new_york_calendar_with_utc_instants():
    cal = BusinessCalendar.office_hours(timezone="America/New_York")
    # winter, EST = UTC-5: Fri 10 Jan 21:00 UTC = 16:00 EST.
    # 1h Friday (16-17) + 3h Monday (09-12 EST) -> Mon 13 Jan 12:00 EST = 17:00 UTC
    assert_utc(cal.add(utc(2025, 1, 10, 21), 4 * H), utc(2025, 1, 13, 17))
    # summer, EDT = UTC-4: Fri 11 Jul 20:00 UTC = 16:00 EDT -> Mon 14 Jul 12:00 EDT = 16:00 UTC
    assert_utc(cal.add(utc(2025, 7, 11, 20), 4 * H), utc(2025, 7, 14, 16))
    # Mon 13 Jan opens at 09:00 EST = 14:00 UTC
    assert cal.is_open(utc(2025, 1, 13, 14))
    assert not cal.is_open(utc(2025, 1, 13, 13, 59))
    # 22:00 UTC = 17:00 EST: closed ([09:00, 17:00))
    assert cal.is_open(utc(2025, 1, 13, 21, 59))
    assert not cal.is_open(utc(2025, 1, 13, 22))
    # Sat 11 Jan 01:00 UTC is still Friday 20:00 EST locally: closed, next open Mon 14:00 UTC
    assert_utc(cal.next_open(utc(2025, 1, 11, 1)), utc(2025, 1, 13, 14))
    # an input in a third zone is fine too: Mon 13 Jan 15:00 CET = 14:00 UTC = 09:00 EST
    assert cal.is_open(paris(2025, 1, 13, 15))


def test_new_york_week_of_spring_forward():
    cal = BusinessCalendar.office_hours(timezone="America/New_York")
    # US DST starts Sun 9 Mar 2025.  Fri 7 Mar 16:00 EST (21:00 UTC) + 4h:
    # 1h Friday + 3h Monday 10 Mar 09:00-12:00 EDT -> 12:00 EDT = 16:00 UTC
    assert_utc(cal.add(utc(2025, 3, 7, 21), 4 * H), utc(2025, 3, 10, 16))


def test_paris_march_dst_change():
    cal = office()
    # Fri 28 Mar 16:00 CET (15:00 UTC) + 4h: 1h Friday, 3h Monday 31 Mar 09:00-12:00 CEST
    # -> Mon 12:00 CEST = 10:00 UTC (the clocks went forward on Sunday; business time is unaffected)
    assert_utc(cal.add(paris(2025, 3, 28, 16), 4 * H), utc(2025, 3, 31, 10))
    # a 09:00-17:00 day is 8 hours on both sides of the change
    assert cal.between(paris(2025, 3, 28), paris(2025, 3, 29)) == 8 * H
    assert cal.between(paris(2025, 3, 31), paris(2025, 4, 1)) == 8 * H
    # Fri 09:00 CET .. Mon 17:00 CEST = 8h + 8h = 16h of business time
    assert cal.between(paris(2025, 3, 28, 9), paris(2025, 3, 31, 17)) == 16 * H
    # Monday opens at 09:00 CEST = 07:00 UTC (it was 08:00 UTC the Friday before)
    assert cal.is_open(utc(2025, 3, 31, 7))
    assert not cal.is_open(utc(2025, 3, 31, 6, 59))
    assert cal.is_open(utc(2025, 3, 28, 8))
    assert not cal.is_open(utc(2025, 3, 28, 7, 59))


def test_paris_october_dst_change():
    cal = office()
    # Fri 24 Oct 16:00 CEST (14:00 UTC) + 4h: 1h Friday, 3h Monday 27 Oct 09:00-12:00 CET
    # -> Mon 12:00 CET = 11:00 UTC
    assert_utc(cal.add(paris(2025, 10, 24, 16), 4 * H), utc(2025, 10, 27, 11))
    assert cal.between(paris(2025, 10, 24), paris(2025, 10, 25)) == 8 * H
    assert cal.between(paris(2025, 10, 27), paris(2025, 10, 28)) == 8 * H
    # the weekend in between (Sat 00:00 CEST .. Mon 00:00 CET, 49 real hours) is all closed
    assert cal.between(paris(2025, 10, 25), paris(2025, 10, 27)) == timedelta(0)


def test_round_the_clock_calendar_in_paris_counts_real_time_across_dst():
    cal = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("mon-sun 00:00-24:00"))
    # Sat 29 Mar 00:00 CET .. Mon 31 Mar 00:00 CEST: 24h + 23h (Sunday loses an hour) = 47h
    assert cal.between(paris(2025, 3, 29), paris(2025, 3, 31)) == 47 * H
    # Sat 25 Oct 00:00 CEST .. Mon 27 Oct 00:00 CET: 24h + 25h = 49h
    assert cal.between(paris(2025, 10, 25), paris(2025, 10, 27)) == 49 * H
    # Sat 29 Mar 12:00 CET (11:00 UTC) + 24h of business time = Sun 30 Mar 13:00 CEST (11:00 UTC)
    assert_utc(cal.add(paris(2025, 3, 29, 12), 24 * H), utc(2025, 3, 30, 11))


def test_interval_touching_the_spring_forward_gap():
    # On Sun 30 Mar 2025, Paris wall clock jumps from 02:00 to 03:00 (at 01:00 UTC).
    cal = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("sun 02:30-05:00"))
    # 02:30 does not exist that day: the interval opens at the change, 03:00 CEST = 01:00 UTC
    assert_utc(cal.next_open(paris(2025, 3, 29, 12)), utc(2025, 3, 30, 1))
    # and lasts 03:00-05:00 CEST = 2 real hours (a normal Sunday gives 2h30)
    assert cal.between(paris(2025, 3, 30), paris(2025, 3, 31)) == 2 * H
    assert cal.between(paris(2025, 3, 23), paris(2025, 3, 24)) == 2.5 * H
    # an interval wholly inside the gap is simply closed that day: next Sunday 02:00 CEST = 00:00 UTC
    gap_only = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("sun 02:00-03:00"))
    assert gap_only.between(paris(2025, 3, 30), paris(2025, 3, 31)) == timedelta(0)
    assert_utc(gap_only.next_open(paris(2025, 3, 29, 12)), utc(2025, 4, 6, 0))


def test_interval_touching_the_fall_back_repeat():
    # On Sun 26 Oct 2025, Paris wall clock goes 02:00-03:00 CEST then 02:00-03:00 CET again.
    cal = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("sun 02:00-04:00"))
    # 02:00 is its first occurrence (02:00 CEST = 00:00 UTC); 04:00 CET = 03:00 UTC: 3 real hours
    assert cal.between(paris(2025, 10, 26), paris(2025, 10, 27)) == 3 * H
    assert_utc(cal.next_open(paris(2025, 10, 25, 12)), utc(2025, 10, 26, 0))
    # both occurrences of 02:30 are open
    assert cal.is_open(paris(2025, 10, 26, 2, 30, fold=0))  # 00:30 UTC
    assert cal.is_open(paris(2025, 10, 26, 2, 30, fold=1))  # 01:30 UTC
    assert not cal.is_open(utc(2025, 10, 26, 3))  # 04:00 CET: closed
    # 1h30 after opening is the second occurrence of 02:30: 01:30 UTC
    assert_utc(cal.add(utc(2025, 10, 26, 0), 1.5 * H), utc(2025, 10, 26, 1, 30))


# --------------------------------------------------------------------------- lunch break


def test_lunch_break_intervals():
    cal = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("mon-fri 09:00-12:00,13:00-17:00"))
    # a day is 3h + 4h = 7h
    assert cal.between(paris(2025, 1, 6, 9), paris(2025, 1, 6, 17)) == 7 * H
    # Mon 11:00 + 2h: 11-12 (1h), lunch, 13-14 (1h) -> 14:00
    assert cal.add(paris(2025, 1, 6, 11), 2 * H) == paris(2025, 1, 6, 14)
    # 12:30 is lunch: closed, opens at 13:00; + 1h -> 14:00
    assert not cal.is_open(paris(2025, 1, 6, 12, 30))
    assert cal.next_open(paris(2025, 1, 6, 12, 30)) == paris(2025, 1, 6, 13)
    assert cal.add(paris(2025, 1, 6, 12, 30), H) == paris(2025, 1, 6, 14)
    # exactly 3h from 09:00 ends at the start of lunch, 12:00
    assert cal.add(paris(2025, 1, 6, 9), 3 * H) == paris(2025, 1, 6, 12)
    # Fri 16:00 + 4h: 1h Friday, Mon 09-12 (3h) -> Mon 12:00
    assert cal.add(paris(2025, 1, 3, 16), 4 * H) == paris(2025, 1, 6, 12)
    # Fri 16:00 + 5h: 1h Friday, 3h Monday morning, 1h after lunch -> Mon 14:00
    assert cal.add(paris(2025, 1, 3, 16), 5 * H) == paris(2025, 1, 6, 14)


def test_overlapping_and_touching_intervals_are_merged():
    cal = BusinessCalendar(
        "UTC",
        (
            WorkingDay(0, time(9), time(12)),
            WorkingDay(0, time(11), time(14)),  # overlaps -> 09:00-14:00
            WorkingDay(0, time(14), time(15)),  # touches -> 09:00-15:00
        ),
    )
    # Monday 6 Jan: one 09:00-15:00 interval = 6h
    assert cal.between(utc(2025, 1, 6), utc(2025, 1, 7)) == 6 * H
    assert cal.add(utc(2025, 1, 6, 9), 6 * H) == utc(2025, 1, 6, 15)


# --------------------------------------------------------------------------- between()


def test_between_across_weekend_and_holiday():
    cal = office(holidays={date(2025, 1, 6)})
    # Fri 3 Jan 15:00 .. Tue 7 Jan 10:00: Fri 15-17 (2h) + weekend 0 + holiday Mon 0 + Tue 09-10 (1h) = 3h
    assert cal.between(paris(2025, 1, 3, 15), paris(2025, 1, 7, 10)) == 3 * H
    # without the holiday Monday adds its 8h: 11h
    assert office().between(paris(2025, 1, 3, 15), paris(2025, 1, 7, 10)) == 11 * H
    # Sat .. Sun: nothing
    assert cal.between(paris(2025, 1, 4, 10), paris(2025, 1, 5, 20)) == timedelta(0)


def test_between_is_zero_when_end_not_after_start():
    cal = office()
    start = paris(2025, 1, 6, 10)
    assert cal.between(start, start) == timedelta(0)
    assert cal.between(start, start - 5 * H) == timedelta(0)


def test_between_partial_intervals_and_mixed_zones():
    cal = office()
    # Mon 08:00 .. Mon 10:30 CET: only 09:00-10:30 counts = 1h30
    assert cal.between(paris(2025, 1, 6, 8), paris(2025, 1, 6, 10, 30)) == timedelta(hours=1, minutes=30)
    # same end given in UTC (10:30 CET = 09:30 UTC)
    assert cal.between(paris(2025, 1, 6, 8), utc(2025, 1, 6, 9, 30)) == timedelta(hours=1, minutes=30)


# --------------------------------------------------------------------------- long durations


def test_multi_week_durations():
    cal = office()
    # 40h a week: Mon 6 Jan 09:00 + 240h = exactly 6 weeks -> ends Fri of week 6, 14 Feb 17:00
    # (weeks: Jan 6-10, 13-17, 20-24, 27-31, Feb 3-7, 10-14)
    assert cal.add(paris(2025, 1, 6, 9), 240 * H) == paris(2025, 2, 14, 17)
    # one more hour -> Mon 17 Feb 10:00
    assert cal.add(paris(2025, 1, 6, 9), 241 * H) == paris(2025, 2, 17, 10)
    assert cal.between(paris(2025, 1, 6, 9), paris(2025, 2, 14, 17)) == 240 * H


def test_multi_week_duration_across_dst_and_holiday():
    # Mon 3 Mar 09:00 CET + 8 weeks (320h = 40 business days): the 40th day is Fri 25 Apr
    # (weeks of Mar 3, 10, 17, 24, 31, Apr 7, 14, 21), ending 17:00 CEST = 15:00 UTC.
    cal = office()
    assert_utc(cal.add(paris(2025, 3, 3, 9), 320 * H), utc(2025, 4, 25, 15))
    # with Easter Monday 21 Apr as a holiday the 40th business day is Mon 28 Apr: 17:00 CEST = 15:00 UTC
    easter = office(holidays=[date(2025, 4, 21)])
    assert_utc(easter.add(paris(2025, 3, 3, 9), 320 * H), utc(2025, 4, 28, 15))
    assert easter.between(paris(2025, 3, 3, 9), paris(2025, 4, 28, 17)) == 320 * H


def test_very_long_duration_is_fast():
    cal = BusinessCalendar("Europe/Paris", BusinessCalendar.parse_hours("mon-fri 09:00-12:00,13:00-17:00"))
    # 10 years of 7h days: 52 weeks * 5 days * 7h = 1820h per 52 weeks; 10 * 1820h = 520 weeks exactly
    # from Mon 6 Jan 2025 09:00 -> ends on the Friday of week 520: Mon 6 Jan 2025 + 519 weeks + 4 days
    began = _clock.perf_counter()
    due = cal.add(paris(2025, 1, 6, 9), 18200 * H)
    elapsed = _clock.perf_counter() - began
    friday = date(2025, 1, 6) + timedelta(weeks=519, days=4)
    assert friday.weekday() == 4
    assert due == datetime.combine(friday, time(17), tzinfo=PARIS)
    assert cal.between(paris(2025, 1, 6, 9), due) == 18200 * H
    assert elapsed < 2.0


# --------------------------------------------------------------------------- parse_hours()


def test_parse_hours_weekdays_and_saturday():
    hours = BusinessCalendar.parse_hours("mon-fri 09:00-17:00; sat 10:00-14:00")
    assert hours == tuple(WorkingDay(d, time(9), time(17)) for d in range(5)) + (
        WorkingDay(5, time(10), time(14)),
    )


def test_parse_hours_lunch_break():
    hours = BusinessCalendar.parse_hours("mon-thu 08:30-12:00,13:00-17:30")
    expected = []
    for d in range(4):
        expected += [WorkingDay(d, time(8, 30), time(12)), WorkingDay(d, time(13), time(17, 30))]
    assert hours == tuple(expected)
    cal = BusinessCalendar("UTC", hours)
    # one day: 3h30 + 4h30 = 8h; a week (Mon-Thu): 32h; Fri-Sun closed
    assert cal.between(utc(2025, 1, 6), utc(2025, 1, 7)) == 8 * H
    assert cal.between(utc(2025, 1, 6), utc(2025, 1, 13)) == 32 * H


def test_parse_hours_lenient_forms():
    # full names, any case, spaces, day lists, wrap-around ranges, 24:00, trailing ';'
    assert BusinessCalendar.parse_hours("Monday 9:00 - 17:00 ;") == (WorkingDay(0, time(9), time(17)),)
    assert [wd.weekday for wd in BusinessCalendar.parse_hours("MON,wed,Fri 09:00-10:00")] == [0, 2, 4]
    assert [wd.weekday for wd in BusinessCalendar.parse_hours("fri-mon 09:00-10:00")] == [0, 4, 5, 6]
    assert BusinessCalendar.parse_hours("sun 22:00-24:00") == (WorkingDay(6, time(22), time(0)),)


@pytest.mark.parametrize(
    ("spec", "bad_part"),
    [
        ("", "empty"),
        ("   ;  ", "empty"),
        ("xyz 09:00-17:00", "'xyz'"),
        ("mon-fri", "missing hours"),
        ("09:00-17:00", "missing days"),
        ("mon 9-17", "'9'"),
        ("mon 09:00", "'09:00'"),
        ("mon 17:00-09:00", "'17:00-09:00'"),
        ("mon 22:00-02:00", "'22:00-02:00'"),
        ("mon 25:00-26:00", "'25:00'"),
        ("mon 09:60-10:00", "'09:60'"),
        ("mon 09:00-17:00; tue 09:00-", "'09:00-'"),
        ("mon-fri-sat 09:00-17:00", "'mon-fri-sat'"),
        ("mon,,tue 09:00-17:00", "'mon,,tue'"),
        ("mon 24:00-24:00", "'24:00'"),
    ],
)
def test_parse_hours_rejects_bad_specs(spec, bad_part):
    with pytest.raises(ValueError) as info:
        BusinessCalendar.parse_hours(spec)
    assert bad_part in str(info.value)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call",
    [
        lambda cal, naive: cal.is_open(naive),
        lambda cal, naive: cal.next_open(naive),
        lambda cal, naive: cal.add(naive, H),
        lambda cal, naive: cal.between(naive, datetime(2025, 1, 7, tzinfo=UTC)),
        lambda cal, naive: cal.between(datetime(2025, 1, 5, tzinfo=UTC), naive),
        lambda cal, naive: BusinessCalendar.always_open().add(naive, H),
    ],
)
def test_naive_datetime_rejected(call):
    with pytest.raises(ValueError, match="naive datetime"):
        call(office(), datetime(2025, 1, 6, 10))


def test_empty_calendar_rejected():
    with pytest.raises(ValueError, match="calendar has no working hours"):
        BusinessCalendar("Europe/Paris", ())
    with pytest.raises(ValueError, match="calendar has no working hours"):
        BusinessCalendar.office_hours(timezone="UTC", weekdays=[])


def test_calendar_closed_for_a_long_holiday_still_terminates():
    # every working day of 2025 is a holiday: next opening is Thu 1 Jan 2026 09:00 UTC
    year = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
    cal = BusinessCalendar.office_hours(timezone="UTC", holidays=year)
    assert_utc(cal.next_open(utc(2025, 1, 1)), utc(2026, 1, 1, 9))


def test_invalid_time_zone_named():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        BusinessCalendar.office_hours(timezone="Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("weekday", "start", "end"),
    [(7, time(9), time(17)), (-1, time(9), time(17)), (0, time(17), time(9)), (0, time(9), time(9))],
)
def test_bad_working_day_rejected(weekday, start, end):
    with pytest.raises(ValueError):
        WorkingDay(weekday, start, end)


def test_calendar_is_hashable_value_object():
    a = BusinessCalendar("UTC", [WorkingDay(0, time(9), time(17))], {date(2025, 1, 6)})
    b = BusinessCalendar("UTC", (WorkingDay(0, time(9), time(17)),), frozenset({date(2025, 1, 6)}))
    assert a == b and hash(a) == hash(b)
    assert isinstance(a.working_hours, tuple) and isinstance(a.holidays, frozenset)


# --------------------------------------------------------------------------- always_open()


def test_always_open_is_plain_addition():
    cal = BusinessCalendar.always_open()
    assert cal.timezone == "UTC"
    start = paris(2025, 3, 29, 22, 15)  # Sat 21:15 UTC, just before the Paris DST change
    # plain addition: 21:15 UTC + 100h = Thu 3 Apr 01:15 UTC
    assert_utc(cal.add(start, 100 * H), utc(2025, 4, 3, 1, 15))
    # (real-time addition: Python's `start + 100 * H` on a Paris datetime would be wall-clock
    # arithmetic across the DST change, an hour off; add in UTC instead)
    start_utc = start.astimezone(UTC)
    assert cal.add(start, 100 * H) == start_utc + 100 * H
    assert cal.between(start, start_utc + 100 * H) == 100 * H
    assert cal.is_open(utc(2025, 1, 4, 3))
    assert_utc(cal.next_open(start), utc(2025, 3, 29, 21, 15))
    assert cal.add(start, timedelta(0)) == start


def test_next_open_and_is_open_basics():
    cal = office()
    assert cal.is_open(paris(2025, 1, 6, 9))  # opening instant is open
    assert not cal.is_open(paris(2025, 1, 6, 8, 59))
    assert not cal.is_open(paris(2025, 1, 6, 17))  # closing instant is closed
    assert_utc(cal.next_open(paris(2025, 1, 6, 10)), utc(2025, 1, 6, 9))  # already open: itself
    assert cal.next_open(paris(2025, 1, 6, 17)) == paris(2025, 1, 7, 9)


# --------------------------------------------------------------------------- brute force


def _brute_force_minutes(cal_zone, spans_by_weekday, holidays, start, end):
    """Open minutes in [start, end), by checking every minute's local wall time."""
    total = 0
    t = start
    while t < end:
        local = t.astimezone(cal_zone)
        wall = local.time().replace(tzinfo=None)
        if local.date() not in holidays:
            for a, b in spans_by_weekday.get(local.weekday(), ()):
                if a <= wall < b:
                    total += 1
                    break
        t += timedelta(minutes=1)
    return timedelta(minutes=total)


@pytest.mark.parametrize(
    ("zone", "first_day"),
    [("Europe/Paris", date(2025, 3, 26)), ("Europe/Paris", date(2025, 10, 22)), ("America/New_York", date(2025, 3, 5))],
)
def test_between_matches_minute_by_minute_count_around_dst(zone, first_day):
    # intervals avoid the 02:00-03:00 DST hour, where "local wall time in interval" is ambiguous
    spans = {d: [(time(8, 30), time(12)), (time(13), time(17, 45))] for d in range(5)}
    spans[5] = [(time(10), time(14))]
    spans[6] = [(time(0), time(1, 30)), (time(4), time(6))]
    holidays = {first_day + timedelta(days=1)}
    cal = BusinessCalendar(
        zone,
        tuple(WorkingDay(d, a, b) for d, items in spans.items() for a, b in items),
        frozenset(holidays),
    )
    tz = ZoneInfo(zone)
    start = datetime.combine(first_day, time(7, 13), tzinfo=tz).astimezone(UTC)
    end = start + timedelta(days=7, hours=3)
    assert cal.between(start, end) == _brute_force_minutes(tz, spans, holidays, start, end)


# --------------------------------------------------------------------------- hypothesis


def test_add_between_round_trip_property():
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    calendars = [
        BusinessCalendar.office_hours(timezone="Europe/Paris", holidays=[date(2025, 1, 6), date(2025, 4, 21)]),
        BusinessCalendar(
            "Europe/Paris",
            BusinessCalendar.parse_hours("mon-thu 08:30-12:00,13:00-17:30; fri 08:30-12:00; sun 02:30-04:00"),
            frozenset({date(2025, 3, 31), date(2025, 10, 27)}),
        ),
        BusinessCalendar.office_hours(timezone="America/New_York", weekdays=[0, 2, 4, 5]),
        BusinessCalendar("Australia/Lord_Howe", BusinessCalendar.parse_hours("mon-sun 01:00-03:00,20:00-24:00")),
        BusinessCalendar.always_open(),
    ]

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(
        cal=st.sampled_from(calendars),
        start=st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
        ),
        seconds=st.integers(min_value=0, max_value=12 * 7 * 24 * 3600),
        extra=st.integers(min_value=0, max_value=3 * 24 * 3600),
    )
    def check(cal, start, seconds, extra):
        duration = timedelta(seconds=seconds)
        due = cal.add(start, duration)
        assert due.tzinfo is UTC
        assert due >= start
        # the round trip: exactly `duration` of business time between start and the due date
        assert cal.between(start, due) == duration
        # a positive duration ends inside hours or exactly at a closing time
        if seconds:
            assert cal.is_open(due - timedelta(microseconds=1))
        # a longer duration is never due earlier; between is additive over a split point
        later = cal.add(start, duration + timedelta(seconds=extra))
        assert later >= due
        assert cal.between(start, later) == cal.between(start, due) + cal.between(due, later)
        # zero duration is the next open instant, which is open
        first = cal.add(start, timedelta(0))
        assert first == cal.next_open(start) and cal.is_open(first)

    check()
