"""Slot expansion in the agent's time zone: daylight-saving changes, far-apart zones, exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.appointments.slots import (
    DateException,
    WeeklyHours,
    day_range_utc,
    expand,
    local_instant,
    working_windows,
)
from models.video_call import ExceptionKind

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no daylight saving
TONGATAPU = ZoneInfo("Pacific/Tongatapu")  # UTC+13, no daylight saving
SUNDAY = 6


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_same_local_hour_moves_in_utc_across_the_spring_change() -> None:
    # Europe moves to summer time on Sunday 28 March 2027: 09:00 is 08:00 UTC before, 07:00 after.
    weekly = [WeeklyHours(SUNDAY, time(9), time(10))]
    slots = expand(
        weekly=weekly,
        exceptions=[],
        zone=BERLIN,
        first_day=date(2027, 3, 21),
        last_day=date(2027, 3, 28),
        slot_minutes=20,
    )
    starts = [s.starts_at for s in slots]
    assert starts[:3] == [
        _utc(2027, 3, 21, 8, 0),
        _utc(2027, 3, 21, 8, 20),
        _utc(2027, 3, 21, 8, 40),
    ]
    assert starts[3:] == [
        _utc(2027, 3, 28, 7, 0),
        _utc(2027, 3, 28, 7, 20),
        _utc(2027, 3, 28, 7, 40),
    ]
    assert all(s.starts_at.astimezone(BERLIN).hour == 9 for s in slots)


def test_a_slot_across_the_spring_change_and_the_skipped_hour() -> None:
    # 01:00-04:00 on the night the clocks jump from 02:00 to 03:00: 02:xx does not exist.
    weekly = [WeeklyHours(SUNDAY, time(1), time(4))]
    slots = expand(
        weekly=weekly,
        exceptions=[],
        zone=BERLIN,
        first_day=date(2027, 3, 28),
        last_day=date(2027, 3, 28),
        slot_minutes=20,
    )
    local = [s.starts_at.astimezone(BERLIN).strftime("%H:%M") for s in slots]
    assert local == ["01:00", "01:20", "01:40", "03:00", "03:20", "03:40"]
    across = slots[2]  # 01:40 CET, twenty real minutes later it is 03:00 CEST
    assert across.starts_at == _utc(2027, 3, 28, 0, 40)
    assert across.ends_at == _utc(2027, 3, 28, 1, 0)
    assert across.ends_at.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert across.ends_at == slots[3].starts_at  # back to back in real time, no overlap


def test_autumn_change_repeated_hour_is_offered_once_without_overlaps() -> None:
    # 31 October 2027: 03:00 CEST becomes 02:00 CET, so 02:xx happens twice.
    weekly = [WeeklyHours(SUNDAY, time(1), time(4))]
    slots = expand(
        weekly=weekly,
        exceptions=[],
        zone=BERLIN,
        first_day=date(2027, 10, 31),
        last_day=date(2027, 10, 31),
        slot_minutes=20,
    )
    assert len(slots) == 9  # 01:00 ... 03:40 by the wall clock
    for a, b in zip(slots, slots[1:], strict=False):
        assert a.ends_at <= b.starts_at
    two_am = [s for s in slots if s.starts_at.astimezone(BERLIN).hour == 2]
    assert [s.starts_at.astimezone(BERLIN).tzname() for s in two_am] == ["CEST"] * 3


def test_nonexistent_local_time_is_none() -> None:
    assert local_instant(date(2027, 3, 28), 2 * 60 + 30, BERLIN) is None
    assert local_instant(date(2027, 3, 28), 3 * 60, BERLIN) == _utc(2027, 3, 28, 1, 0)


def test_agent_in_utc_plus_8_seen_from_utc_plus_13_is_the_next_day() -> None:
    monday = date(2026, 12, 7)
    assert monday.weekday() == 0
    slots = expand(
        weekly=[WeeklyHours(0, time(20), time(21))],
        exceptions=[],
        zone=SHANGHAI,
        first_day=monday,
        last_day=monday,
        slot_minutes=20,
    )
    assert [s.starts_at for s in slots] == [
        _utc(2026, 12, 7, 12, 0),
        _utc(2026, 12, 7, 12, 20),
        _utc(2026, 12, 7, 12, 40),
    ]
    seen = [s.starts_at.astimezone(TONGATAPU) for s in slots]
    assert [(d.date(), d.strftime("%H:%M")) for d in seen] == [
        (date(2026, 12, 8), "01:00"),
        (date(2026, 12, 8), "01:20"),
        (date(2026, 12, 8), "01:40"),
    ]
    # The pensioner's Tuesday runs from Monday 11:00 UTC to Tuesday 11:00 UTC.
    start, end = day_range_utc(date(2026, 12, 8), 1, TONGATAPU)
    assert (start, end) == (_utc(2026, 12, 7, 11), _utc(2026, 12, 8, 11))
    assert all(start <= s.starts_at < end for s in slots)


def test_exceptions_remove_and_add_hours() -> None:
    weekly = [WeeklyHours(d, time(9), time(12)) for d in range(5)]
    exceptions = [
        DateException(ExceptionKind.unavailable, date(2026, 12, 7), date(2026, 12, 8)),  # leave
        DateException(
            ExceptionKind.unavailable, date(2026, 12, 9), date(2026, 12, 9), time(10), time(11)
        ),
        DateException(
            ExceptionKind.extra, date(2026, 12, 12), date(2026, 12, 12), time(14), time(15)
        ),
        DateException(
            ExceptionKind.extra, date(2026, 12, 10), date(2026, 12, 10), time(11), time(13)
        ),
    ]
    windows = {
        date(2026, 12, 7) + timedelta(days=i): working_windows(
            date(2026, 12, 7) + timedelta(days=i), weekly=weekly, exceptions=exceptions
        )
        for i in range(6)
    }
    assert windows[date(2026, 12, 7)] == [] and windows[date(2026, 12, 8)] == []
    assert windows[date(2026, 12, 9)] == [(9 * 60, 10 * 60), (11 * 60, 12 * 60)]
    assert windows[date(2026, 12, 10)] == [(9 * 60, 13 * 60)]  # extra hours merge
    assert windows[date(2026, 12, 12)] == [(14 * 60, 15 * 60)]  # a Saturday, extra only
    slots = expand(
        weekly=weekly,
        exceptions=exceptions,
        zone=SHANGHAI,
        first_day=date(2026, 12, 9),
        last_day=date(2026, 12, 9),
        slot_minutes=30,
    )
    assert [s.starts_at.astimezone(SHANGHAI).strftime("%H:%M") for s in slots] == [
        "09:00",
        "09:30",
        "11:00",
        "11:30",
    ]


def test_a_slot_must_fit_in_its_window() -> None:
    slots = expand(
        weekly=[WeeklyHours(0, time(9), time(9, 50))],
        exceptions=[],
        zone=SHANGHAI,
        first_day=date(2026, 12, 7),
        last_day=date(2026, 12, 7),
        slot_minutes=20,
    )
    assert [s.starts_at.astimezone(SHANGHAI).strftime("%H:%M") for s in slots] == ["09:00", "09:20"]
