"""The day layer above the hour rollups: ``day_stats``, ``day_repeats`` and ``day_shifts``.

A tenant's month is about 70,000 ``hour_stats`` rows at 1 M calls a year (one per hour, agent, queue
and rubric), about as many as it has calls. The KPI page, the dashboard tiles and the score trend
group by agent or team and never by hour, so a row per UTC day, tenant, team and agent holds all
they need: about 30 rows per agent and month.

- ``day_stats``: the sums of ``hour_stats`` over the day's hours (queue and rubric summed away);
- ``day_repeats``: the same of ``hour_repeats`` (repeat-call FCR counts per viewer scope);
- ``day_shifts``: what calls per hour needs of the day's calls of one agent (tenant, team): the
  calls, the worked seconds of the day's shifts (cut at the UTC midnight that starts the day), the
  first call's start, the end of the first shift, and the latest end. Shifts are not sums, but these
  five let a reader join a day to the day before exactly (review_app/workflow/shifts.py).

The day rows are written by the hour rollup's refresh (review_app/workflow/rollup.py), under its lock
and watermark, right after the hour rows: every day with an hour recomputed is recomputed whole, the
sums with one ``INSERT … SELECT … GROUP BY`` over that day's hour rows, the shifts from the day's
calls (one ``INSERT … SELECT`` with window functions on PostgreSQL). A day is never added to, so a
refresh counts each fact once however often it runs.

Readers use a day only when none of its hours was touched since the last refresh: storage/windows.py
cuts a window into whole days (day rows), whole hours (hour rows) and the rest (raw rows: edges inside
an hour, touched hours). A window in a +05:30 or +08:00 zone thus reads its whole UTC days from here,
the hours at its two edges from the hour rows, and its part hours raw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, func

from storage.calls import Call
from storage.repeats import COUNTS, day_repeats, hour_repeats
from storage.rollups import HOUR, SUMS, HourStats, hour_key
from storage.settings import get_settings
from storage.windows import DAY, day_key, day_start, runs

hour_stats: sa.Table = HourStats.__table__  # type: ignore[attr-defined]
KEY = ("day", "tenant", "team", "agent_id")


# the same sums as hour_stats, summed over the day's hours, queues and rubrics (a Core table: its columns
# are hour_stats' own, so the two cannot drift apart)
day_stats = sa.Table(
    "day_stats", SQLModel.metadata,
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD of the call's start, UTC
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), primary_key=True),  # '' when the call has none
    sa.Column("agent_id", sa.String(64), primary_key=True),  # '' when the call has none
    *[sa.Column(c, hour_stats.c[c].type, nullable=False) for c in SUMS],
    sa.Index("ix_day_stats_tenant_team_day", "tenant", "team", "day"),
)


def _link_column(kind: type[sa.types.TypeEngine[Any]]) -> Any:
    """A column written by ``link_days`` after the row: no default of the client's (an INSERT leaves it out
    and the database's 0 stands until the join is written)."""
    return sa.Column(kind, nullable=False, server_default="0")


class DayShifts(SQLModel, table=True):
    """One agent's calls of one UTC day (tenant, team), as shifts: see the module doc."""

    __tablename__ = "day_shifts"
    __table_args__ = (sa.Index("ix_day_shifts_tenant_team_day", "tenant", "team", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=64)
    calls: int = 0
    worked_s: float = 0.0  # the sum of the day's shift lengths, the first shift opening at the first call
    # times as seconds since 1970-01-01 UTC: a reader joins days with arithmetic in SQL, the same on both databases
    first_start: float = 0.0  # the first call's start
    first_end: float = 0.0  # the first shift's end
    last_end: float = 0.0  # the latest call end
    # the day's join to the day before, of the same tenant, team and agent (link_days, at refresh time), so
    # that a reader sums a period's days in one GROUP BY without ordering them (review_app/workflow/shifts.py)
    join_s: float = Field(default=0.0, sa_column=_link_column(sa.Float))  # first_start - the day
    # before's last_end when that is within the gap (the first shift continues the one before), else 0
    join_past_first: int = Field(default=0, sa_column=_link_column(sa.Integer))  # 1: joined, and the
    # day before runs past this day's first shift (its second shift may join too: read from the calls)
    crossed: int = Field(default=0, sa_column=_link_column(sa.Integer))  # 1: the agent has a row of
    # another tenant or team on this day or the day before (a reader grouping them together reads the calls)
    reaches: int = Field(default=0, sa_column=_link_column(sa.Integer))  # 1: a call ends within the gap
    # of the day after next or later (then the day after is not the only one a later day joins: read the calls)


day_shifts: sa.Table = DayShifts.__table__  # type: ignore[attr-defined]
SHIFT_COLUMNS = ("calls", "worked_s", "first_start", "first_end", "last_end")
LINK_COLUMNS = ("join_s", "join_past_first", "crossed", "reaches")


@dataclass(frozen=True)
class Cell:
    """A ``day_shifts`` row (or the same computed from raw calls)."""

    day: str
    tenant: str
    team: str
    agent_id: str
    calls: int
    worked_s: float
    first_start: float  # seconds since 1970 (UTC)
    first_end: float
    last_end: float


# --- computing the shift cells -------------------------------------------------------------------

def shift_cells(rows: Iterable[tuple[Any, ...]], gap_s: float) -> list[Cell]:
    """Cells from (started_at, duration_s, tenant, team, agent_id) rows, one per UTC day, tenant, team
    and agent, shifts as scoring/kpi.py ``shift_hours`` makes them."""
    by_cell: dict[tuple[str, str, str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for started, duration, tenant, team, agent in rows:
        by_cell[(day_key(started), tenant, team or "", agent or "")].append(
            (started, started + timedelta(seconds=duration)))
    gap = timedelta(seconds=gap_s)
    out = []
    for (day, tenant, team, agent), spans in by_cell.items():
        spans.sort(key=lambda se: se[0])
        worked = 0.0
        shift_start, shift_end = spans[0]
        first_end = None
        for s, e in spans[1:]:
            if s - shift_end <= gap:
                shift_end = max(shift_end, e)
                continue
            worked += (shift_end - shift_start).total_seconds()
            first_end = first_end or shift_end
            shift_start, shift_end = s, e
        worked += (shift_end - shift_start).total_seconds()
        out.append(Cell(day, tenant, team, agent, len(spans), worked, spans[0][0].timestamp(),
                        (first_end or shift_end).timestamp(), max(e for _, e in spans).timestamp()))
    return out


def raw_cells(session: Session, where: list[Any]) -> list[Cell]:
    """The cells of the calls matching ``where``, from the call rows."""
    q = sa.select(col(Call.started_at), col(Call.duration_s), col(Call.tenant), col(Call.team),
                  col(Call.agent_id)).where(*where)
    return shift_cells(session.execute(q), get_settings().shift_gap_min * 60)


def _pg_shift_select(a: datetime, b: datetime, gap_s: float) -> Any:
    """The cells of [a, b) in one statement (PostgreSQL): the running end per cell, which calls open a
    shift, shift numbers (peers share one: only the first of equal starts can open), then one GROUP BY."""
    started = col(Call.started_at)
    day = func.to_char(func.timezone("UTC", started), "YYYY-MM-DD").label("day")
    team, agent = func.coalesce(col(Call.team), "").label("team"), func.coalesce(col(Call.agent_id), "").label("agent")
    ended = (started + func.make_interval(0, 0, 0, 0, 0, 0, col(Call.duration_s))).label("e")
    part = (day, col(Call.tenant), team, agent)
    running = func.max(ended).over(partition_by=part, order_by=started, rows=(None, -1)).label("m")
    c1 = sa.select(day, col(Call.tenant).label("tenant"), team, agent, started.label("s"), ended, running) \
        .where(started >= a, started < b).subquery()
    opens = sa.case((sa.or_(c1.c.m.is_(None), c1.c.s - c1.c.m > func.make_interval(0, 0, 0, 0, 0, 0, gap_s)), 1),
                    else_=0)
    worked = sa.case((opens == 1, func.extract("epoch", c1.c.e - c1.c.s)),
                     else_=func.greatest(0, func.extract("epoch", c1.c.e - c1.c.m)))
    p2 = (c1.c.day, c1.c.tenant, c1.c.team, c1.c.agent)
    shift = func.sum(opens).over(partition_by=p2, order_by=c1.c.s)  # RANGE: equal starts share a number
    c2 = sa.select(*p2, c1.c.s, c1.c.e, worked.label("w"), shift.label("shift")).subquery()
    keys = (c2.c.day, c2.c.tenant, c2.c.team, c2.c.agent)
    def epoch(t: Any) -> Any:
        return sa.cast(func.extract("epoch", t), sa.Float)

    return sa.select(*keys, func.count(), func.sum(c2.c.w), epoch(func.min(c2.c.s)),
                     epoch(func.max(c2.c.e).filter(c2.c.shift == 1)), epoch(func.max(c2.c.e))).group_by(*keys)


# --- refreshing ------------------------------------------------------------------------------------

def _sum_select(table: sa.Table, names: Iterable[str], a: datetime, b: datetime) -> Any:
    h = table.c.hour
    keys = (func.substr(h, 1, 10), table.c.tenant, table.c.team, table.c.agent_id)
    return (sa.select(*keys, *[func.sum(table.c[n]) for n in names])
            .where(h >= hour_key(a), h < hour_key(b)).group_by(*keys))


def replace_days(session: Session, ranges: list[tuple[datetime, datetime]], *, link: bool = True) -> None:
    """Recompute the day rows of these day ranges: the sums from the hour rows (which the refresh has
    just written), the shifts from the call rows. DELETE, then INSERT: never added to. Then the shift
    rows' joins to the day before, of these days and the day after each range (``link`` False: not
    yet, the migration that adds those columns writes them)."""
    pg = session.get_bind().dialect.name == "postgresql"
    gap_s = get_settings().shift_gap_min * 60
    for a, b in ranges:
        for table in (day_stats, day_repeats, day_shifts):
            session.execute(sa.delete(table).where(table.c.day >= day_key(a), table.c.day < day_key(b)))
        session.execute(sa.insert(day_stats).from_select([*KEY, *SUMS], _sum_select(hour_stats, SUMS, a, b)))
        session.execute(sa.insert(day_repeats).from_select([*KEY, *COUNTS], _sum_select(hour_repeats, COUNTS, a, b)))
        if pg:
            session.execute(sa.insert(day_shifts).from_select([*KEY, *SHIFT_COLUMNS], _pg_shift_select(a, b, gap_s)))
        else:
            cells = raw_cells(session, [col(Call.started_at) >= a, col(Call.started_at) < b])
            if cells:
                session.execute(sa.insert(day_shifts), [vars(c) for c in cells])
    for a, b in ranges if link else ():
        link_days(session, a, b + DAY)


def link_days(session: Session, a: datetime, b: datetime) -> None:
    """Write each ``day_shifts`` row's join to the day before (``LINK_COLUMNS``) for the days of [a, b), one
    UPDATE per day. Called for the days just recomputed and the day after them, whose day before changed."""
    gap_s = get_settings().shift_gap_min * 60
    t, p = day_shifts.c, day_shifts.alias("p")
    d = a
    while d < b:
        day, before = day_key(d), day_key(d - DAY)
        prev_end = sa.select(p.c.last_end).where(p.c.day == before, p.c.tenant == t.tenant, p.c.team == t.team,
                                                 p.c.agent_id == t.agent_id).scalar_subquery()
        joins = t.first_start - prev_end <= gap_s  # NULL (not joined) when there is no row the day before
        several = (sa.select(p.c.agent_id).where(p.c.day.in_([before, day])).group_by(p.c.agent_id)
                   .having(sa.or_(func.count(p.c.tenant.distinct()) > 1, func.count(p.c.team.distinct()) > 1)))
        values = (sa.case((joins, t.first_start - prev_end), else_=0.0),
                  sa.case((sa.and_(joins, prev_end > t.first_end), 1), else_=0),
                  sa.case((t.agent_id.in_(several), 1), else_=0),
                  sa.case((t.last_end >= (d + 2 * DAY).timestamp() - gap_s, 1), else_=0))
        session.execute(sa.update(day_shifts).where(t.day == day).values(dict(zip(LINK_COLUMNS, values, strict=True))))
        d += DAY


def all_days(session: Session) -> list[tuple[datetime, datetime]]:
    """Month-long day ranges covering every call's day."""
    first, last = session.execute(sa.select(func.min(col(Call.started_at)), func.max(col(Call.started_at)))).one()
    if first is None or last is None:
        return []
    at, stop = day_start(day_key(first)), day_start(day_key(last)) + DAY
    out = []
    while at < stop:
        out.append((at, min(at + 31 * DAY, stop)))
        at = out[-1][1]
    return out


def refresh(session: Session, hours: list[tuple[datetime, datetime]] | None, *, link: bool = True) -> int:
    """Recompute the days of these hour ranges (None: every day); the days recomputed."""
    if hours is None:
        for table in (day_stats, day_repeats, day_shifts):
            session.execute(sa.delete(table))
        ranges = all_days(session)
    else:
        ranges = runs({day_start(day_key(t)) for a, b in hours
                       for t in (a + i * HOUR for i in range(round((b - a) / HOUR)))}, DAY)
    replace_days(session, ranges, link=link)
    return sum(round((b - a) / DAY) for a, b in ranges)
