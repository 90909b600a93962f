"""Video-call slots: an agent's weekly hours and exceptions, expanded in the agent's own time
zone for each local date (so daylight-saving changes move the UTC times, not the local ones),
then turned into UTC instants.

Pure functions: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.video_call import ExceptionKind

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class WeeklyHours:
    weekday: int  # 0 Monday ... 6 Sunday
    start: time
    end: time


@dataclass(frozen=True)
class DateException:
    kind: ExceptionKind
    starts_on: date
    ends_on: date  # inclusive
    start: time | None = None  # None (with end None): the whole day
    end: time | None = None


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(
    windows: list[tuple[int, int]], blocked: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in windows:
        pieces = [(start, end)]
        for b_start, b_end in blocked:
            next_pieces: list[tuple[int, int]] = []
            for p_start, p_end in pieces:
                if b_end <= p_start or b_start >= p_end:
                    next_pieces.append((p_start, p_end))
                    continue
                if p_start < b_start:
                    next_pieces.append((p_start, b_start))
                if b_end < p_end:
                    next_pieces.append((b_end, p_end))
            pieces = next_pieces
        out.extend(pieces)
    return out


def working_windows(
    day: date, *, weekly: Sequence[WeeklyHours], exceptions: Sequence[DateException]
) -> list[tuple[int, int]]:
    """The agent's working minutes (local wall clock, since midnight) on one local date."""
    windows = [(_minutes(w.start), _minutes(w.end)) for w in weekly if w.weekday == day.weekday()]
    blocked: list[tuple[int, int]] = []
    for e in exceptions:
        if not e.starts_on <= day <= e.ends_on:
            continue
        if e.kind is ExceptionKind.extra and e.start is not None and e.end is not None:
            windows.append((_minutes(e.start), _minutes(e.end)))
        elif e.kind is ExceptionKind.unavailable:
            if e.start is None or e.end is None:
                return []
            blocked.append((_minutes(e.start), _minutes(e.end)))
    return _subtract(_merge(windows), blocked)


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time, or None if that time does not exist
    (skipped when the clocks go forward). A time that happens twice when the clocks go back
    means its first occurrence."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def expand(
    *,
    weekly: Sequence[WeeklyHours],
    exceptions: Sequence[DateException],
    zone: ZoneInfo,
    first_day: date,
    last_day: date,
    slot_minutes: int,
) -> list[Slot]:
    """Every slot on the agent's local dates first_day..last_day, in UTC, sorted.

    Slots start every slot_minutes from the start of each working window and must end (in
    wall-clock minutes) within it. A slot whose local start does not exist that day is left
    out; its length is always slot_minutes of real time.
    """
    slots: list[Slot] = []
    day = first_day
    length = timedelta(minutes=slot_minutes)
    while day <= last_day:
        for start, end in working_windows(day, weekly=weekly, exceptions=exceptions):
            minute = start
            while minute + slot_minutes <= min(end, MINUTES_PER_DAY):
                instant = local_instant(day, minute, zone)
                if instant is not None:
                    slots.append(Slot(instant, instant + length))
                minute += slot_minutes
        day += timedelta(days=1)
    return sorted(set(slots), key=lambda s: s.starts_at)


def local_dates(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The local dates in `zone` that the UTC range start..end touches."""
    return start.astimezone(zone).date(), end.astimezone(zone).date()


def day_range_utc(first_day: date, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From local midnight of first_day to local midnight `days` later, in UTC."""
    start = datetime.combine(first_day, time()).replace(tzinfo=zone).astimezone(UTC)
    end = (
        datetime.combine(first_day + timedelta(days=days), time())
        .replace(tzinfo=zone)
        .astimezone(UTC)
    )
    return start, end


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end
