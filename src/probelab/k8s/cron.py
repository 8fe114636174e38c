"""Cron schedules as the CronJob controller and validation read them (`github.com/robfig/cron/v3`
ParseStandard, used by `pkg/controller/cronjob/utils.go`): five fields — minute, hour, day of
month, month, day of week — each `*`, `?`, a value, a range `a-b`, a step `*/n` or `a-b/n`, or a
comma list of those; month and weekday names (`JAN`, `MON`); 7 is Sunday too; the macros
`@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`, and
`@every <duration>`. When both day fields are restricted a day matches either (cron's rule);
otherwise both must match. Times are evaluated in `spec.timeZone` (UTC when unset: the engine's
controller manager runs in UTC).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
_NAMES = [{}, {}, {},
          {m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                           "AUG", "SEP", "OCT", "NOV", "DEC"])},
          {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}]
_BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
SEARCH_DAYS = 366 * 5  # a schedule with no time in five years never runs (Feb 30 ...)


class ScheduleError(ValueError):
    """A schedule the parser refuses."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_any: bool  # the day-of-month field was `*` or `?`
    weekdays_any: bool
    every_s: int = 0  # `@every`: a fixed interval instead of the fields

    def day_matches(self, day: dt.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_any or self.weekdays_any:
            return in_month and in_week
        return in_month or in_week


def _value(text: str, field: int) -> int:
    text = text.upper()
    if text in _NAMES[field]:
        return _NAMES[field][text]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


def _field(text: str, field: int) -> tuple[frozenset[int], bool]:
    low, high = _BOUNDS[field]
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if (step_text and not step_text.isdigit()) or step == 0:
            raise ScheduleError(f"invalid step: {part}")
        if rng in ("*", "?"):
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = _value(a, field), _value(b, field)
        else:
            start = _value(rng, field)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ScheduleError(f"{part}: out of range [{low}, {high}]")
        values.update(range(start, end + 1, step))
    if field == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values), text in ("*", "?")


def parse(text: str) -> Schedule:
    """The schedule of a cron line (ScheduleError when it cannot be read)."""
    text = text.strip()
    if text.startswith("@every "):
        match = re.fullmatch(r"@every\s+(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
        if not match or not any(match.groups()):
            raise ScheduleError(f"failed to parse duration {text}")
        h, m, s = (int(g or 0) for g in match.groups())
        return Schedule(frozenset(), frozenset(), frozenset(), frozenset(), frozenset(),
                        True, True, every_s=max(1, h * 3600 + m * 60 + s))
    text = MACROS.get(text, text)
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(parts)}: {text}")
    (minutes, _), (hours, _), (days, days_any), (months, _), (weekdays, weekdays_any) = (
        _field(p, i) for i, p in enumerate(parts))
    return Schedule(minutes, hours, days, months, weekdays, days_any, weekdays_any)


def zone(name: str | None) -> dt.tzinfo:
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name}") from exc


def next_after(schedule: Schedule, after: float, tz: dt.tzinfo) -> float | None:
    """The first scheduled time strictly after `after` (seconds since the epoch), or None."""
    if schedule.every_s:
        return after + schedule.every_s - (after % 1)
    t = dt.datetime.fromtimestamp(int(after // 60) * 60 + 60, tz).replace(tzinfo=None)
    limit = t + dt.timedelta(days=SEARCH_DAYS)
    while t < limit:
        if t.month not in schedule.months:
            t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
        elif not schedule.day_matches(t.date()):
            t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
        elif t.hour not in schedule.hours:
            t = t.replace(minute=0) + dt.timedelta(hours=1)
        elif t.minute not in schedule.minutes:
            t += dt.timedelta(minutes=1)
        else:
            return t.replace(tzinfo=tz).timestamp()
    return None


def most_recent(schedule: Schedule, start: float, end: float, tz: dt.tzinfo,
                cap: int = 100_000) -> tuple[float | None, int]:
    """The latest scheduled time in (start, end] and how many there were
    (`mostRecentScheduleTime`; the count stops at `cap`)."""
    last, count = None, 0
    t = next_after(schedule, start, tz)
    while t is not None and t <= end and count < cap:
        last, count = t, count + 1
        t = next_after(schedule, t, tz)
    return last, count
