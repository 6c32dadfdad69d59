"""A window [start, end) cut for reading the rollups: whole UTC days from a day table, whole UTC hours
from an hour table, the rest (edges inside an hour, hours touched since the last refresh) from the raw
rows. Used by review_app/workflow/rollup.py and storage/repeats.py (their day tables:
storage/day_rollups.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storage.rollups import HOUR, hour_key, hour_start

DAY = timedelta(days=1)


def day_key(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d}"


def day_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)


def _ceil_hour(t: datetime) -> datetime:
    h = hour_start(hour_key(t))
    return h if h == t else h + HOUR


def _ceil_day(t: datetime) -> datetime:
    d = day_start(day_key(t))
    return d if d == t else d + DAY


def runs(keys: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Starts of hours or days as runs [a, b) of consecutive ones."""
    out: list[tuple[datetime, datetime]] = []
    for at in sorted(set(keys)):
        if out and out[-1][1] == at:
            out[-1] = (out[-1][0], at + step)
        else:
            out.append((at, at + step))
    return out


@dataclass(frozen=True)
class Split:
    """A window cut for reading: whole UTC days from the day rows, whole hours from the hour rows
    (without ``dirty``), the rest from the raw rows."""

    days: list[tuple[datetime, datetime]]
    hours: list[tuple[datetime, datetime]]
    dirty: list[str]  # hour keys inside ``hours`` touched since the refresh (read raw)
    raw: list[tuple[datetime, datetime]]


def split(start: datetime, end: datetime, touched: set[str] | None, *, days: bool) -> Split:
    """Cut [start, end) given the hours touched since the last refresh (None: never refreshed, all
    raw). ``days`` False: no day rows (the reader needs a column the day rows do not keep)."""
    first, last = _ceil_hour(start), hour_start(hour_key(end))
    if touched is None or first >= last:
        return Split([], [], [], [(start, end)] if start < end else [])
    dirty = sorted(h for h in touched if first <= hour_start(h) < last)
    raw = [(a, b) for a, b in ((start, first), (last, end)) if a < b] + runs(map(hour_start, dirty), HOUR)
    d0, d1 = _ceil_day(first), day_start(day_key(last))
    if not days or d0 >= d1:
        return Split([], [(first, last)], dirty, raw)
    dirty_days = {day_start(h[:10]) for h in dirty if d0 <= hour_start(h) < d1}
    whole = [d0 + i * DAY for i in range((d1 - d0) // DAY)]
    hours = [(a, b) for a, b in ((first, d0), (d1, last)) if a < b] + runs(dirty_days, DAY)
    return Split(runs((d for d in whole if d not in dirty_days), DAY), _merge(hours), dirty, raw)


def _merge(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(ranges):
        if out and out[-1][1] >= a:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def hour_clause(column: Any, ranges: list[tuple[datetime, datetime]]) -> Any:
    """``column`` (an hour key) inside one of ``ranges``."""
    return sa.or_(*[sa.and_(column >= hour_key(a), column < hour_key(b)) for a, b in ranges])


def day_clause(column: Any, ranges: list[tuple[datetime, datetime]]) -> Any:
    return sa.or_(*[sa.and_(column >= day_key(a), column < day_key(b)) for a, b in ranges])




def rolled_reads(cut: Split, tables: tuple[sa.Table, sa.Table], scope: Callable[[sa.Table], list[Any]],
                 columns: Sequence[str], *, by: str | None = None, team: str | None = None,
                 queue: str | None = None, rubric: str | None = None) -> Iterator[Any]:
    """The SELECTs of a cut's rolled-up part: for the hour table (its ranges, without the dirty hours)
    and the day table (its ranges), ``columns`` summed per (UTC day, value of ``by``; '' without it),
    in ``scope`` (the caller's access clauses for a table) and the filters given. The raw part
    (``cut.raw``) is the caller's."""
    hour_table, day_table = tables
    for table, key, ranges in ((hour_table, "hour", cut.hours), (day_table, "day", cut.days)):
        if not ranges:
            continue
        t = table.c
        where = [(hour_clause if key == "hour" else day_clause)(t[key], ranges), *scope(table)]
        where += [t.hour.not_in(cut.dirty)] if key == "hour" and cut.dirty else []
        where += [t.team == team] if team else []
        where += [t.queue == queue] if queue else []
        where += [t.rubric_id == rubric] if rubric is not None else []
        day = sa.func.substr(t[key], 1, 10)
        group = t[by] if by else sa.literal("")
        yield sa.select(day, group, *[sa.func.sum(t[c]) for c in columns]).where(*where).group_by(day, group)
