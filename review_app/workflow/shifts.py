"""Calls per shift hour per KPI group (scoring/kpi.py ``calls_per_hour``), computed in the database.

An agent's shifts are runs of their calls in which the gap from the running end (the latest end so
far) to the next call's start is at most ``shift_gap_min``. Sorted by start, each call adds to the
worked time what it extends the shift by: its whole length when it opens a shift, else how far its
end passes the running end (nothing when it ends before). The sum over a group's calls is the
sum of its agents' shift lengths, so on PostgreSQL one window function (the running end per agent,
group and period) and one ``GROUP BY`` give every group's hours without sending the calls to
Python. Elsewhere (SQLite) the group's calls are read (start, length, agent only) and
``scoring.kpi.calls_per_hour`` runs on them. Both read only the window's calls of the group.

Once the rollup is refreshed, a window of whole UTC days (by agent, team or none, no queue) is read
from the day layer instead (``day_shifts``, storage/day_rollups.py): per agent and day, the calls, the
worked seconds of the day's shifts, the first call's start, the first shift's end and the latest end.
A period's days are joined in order: when a day's first call starts within the gap of the running
end, its first shift continues the shift before (it adds ``first_end - running end`` instead of its
own length). The window's part days at its edges and the days with calls changed since the refresh
are computed from the call rows the same way. In the rare case that the day before still runs past
the end of a day's first shift (an agent's overlapping calls across midnight), or an agent has two
rows on one day (two teams), that agent's period is computed from its call rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func

from review_app.workflow import rollup
from scoring.kpi import KpiCall, calls_per_hour, shift_hours
from storage import rollups
from storage.access import calls_clause
from storage.calls import Call
from storage.day_rollups import KEY, SHIFT_COLUMNS, Cell, DayShifts, raw_cells
from storage.settings import get_settings
from storage.users import Principal
from storage.windows import DAY, day_key, day_start

Part = tuple[str, str, str]  # (period key, group, agent)
_PERIOD_FORMAT = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM"}


def _period_key(period: str, when: datetime) -> str:
    d = when.date()
    if period == "month":
        return f"{d:%Y-%m}"
    if period == "week":
        return (d.fromordinal(d.toordinal() - d.weekday())).isoformat()
    return d.isoformat()


def _day_period(period: str, day: str) -> str:
    return _period_key(period, day_start(day))


def _fold(cells: list[Cell], by: str | None, period: str, gap_s: float) -> tuple[dict[Part, list[float]], set[Part]]:
    """(calls, worked seconds) per (period, group, agent) from the day cells joined in day order, and the
    parts the cells cannot answer (see the module doc)."""
    parts: dict[Part, list[Cell]] = defaultdict(list)
    for c in cells:
        g = c.agent_id if by == "agent_id" else (c.team if by == "team" else "")
        parts[(_day_period(period, c.day), g, c.agent_id)].append(c)
    out: dict[Part, list[float]] = {}
    unanswered: set[Part] = set()
    for key, cs in parts.items():
        cs.sort(key=lambda c: c.day)
        if len({c.day for c in cs}) < len(cs):
            unanswered.add(key)
            continue
        n, worked, end = 0, 0.0, None
        for c in cs:
            if end is None or (c.first_start - end).total_seconds() > gap_s:
                worked += c.worked_s
            elif end > c.first_end:
                unanswered.add(key)
                break
            else:  # the day's first shift continues the one before: it adds first_end - end, not its length
                worked += c.worked_s + (c.first_start - end).total_seconds()
            n += c.calls
            end = c.last_end if end is None else max(end, c.last_end)
        else:
            out[key] = [n, worked]
    return out, unanswered


def _from_days(session: Session, who: Principal, *, start: datetime, end: datetime, by: str | None, period: str,
               team: str | None) -> dict[tuple[str, str], float | None] | None:
    """``rates`` from ``day_shifts``; None when the window holds no whole UTC day or was never refreshed."""
    mark = rollups.watermark(session)
    d0, d1 = day_start(day_key(start)), day_start(day_key(end))
    d0 = d0 if d0 == start else d0 + DAY
    if mark is None or d0 >= d1:
        return None
    started = col(Call.started_at)
    changed = session.execute(sa.select(started).where(col(Call.updated_at) >= mark - rollups.OVERLAP,
                                                       started >= d0, started < d1).distinct())
    dirty = sorted({day_start(day_key(s)) for (s,) in changed})
    t = DayShifts.__table__.c
    where = [t.day >= day_key(d0), t.day < day_key(d1), *rollup.scope(who, DayShifts.__table__)]
    where += [t.day.not_in([day_key(d) for d in dirty])] if dirty else []
    where += [t.team == team] if team else []
    cells = [Cell(*row) for row in session.execute(sa.select(*[t[c] for c in (*KEY, *SHIFT_COLUMNS)]).where(*where))]
    rest = [(a, b) for a, b in ((start, d0), (d1, end)) if a < b] + [(d, d + DAY) for d in dirty]
    clause = [calls_clause(who), *([col(Call.team) == team] if team else [])]
    if rest:
        cells += raw_cells(session, [sa.or_(*[sa.and_(started >= a, started < b) for a, b in rest]), *clause])
    gap_s = get_settings().shift_gap_min * 60
    parts, unanswered = _fold(cells, by, period, gap_s)
    if unanswered:  # from the call rows, for these agents' periods only
        agents = {a for _, _, a in unanswered}
        mine = sa.or_(col(Call.agent_id).in_(agents), col(Call.agent_id).is_(None)) if "" in agents \
            else col(Call.agent_id).in_(agents)
        calls: dict[Part, list[KpiCall]] = defaultdict(list)
        q = sa.select(started, col(Call.duration_s), col(Call.agent_id), col(Call.team)).where(
            started >= start, started < end, mine, *clause)
        for s, duration, agent, tm in session.execute(q):
            g = (agent or "") if by == "agent_id" else ((tm or "") if by == "team" else "")
            key = (_period_key(period, s), g, agent or "")
            if key in unanswered:
                calls[key].append(KpiCall(call_id="", started_at=s, duration_s=duration, agent_id=agent))
        for key, cs in calls.items():
            parts[key] = [len(cs), 3600.0 * shift_hours(cs, shift_gap_s=gap_s)]
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for (p, g, _), (n, worked) in parts.items():
        totals[(p, g)][0] += n
        totals[(p, g)][1] += worked
    return {k: n / (worked / 3600.0) if worked > 0 else None for k, (n, worked) in totals.items()}


def rates(session: Session, who: Principal, *, start: datetime, end: datetime, by: str | None, period: str,
          team: str | None, queue: str | None) -> dict[tuple[str, str], float | None]:
    """Calls per shift hour per (period key, value of the call column ``by`` or '' for one group)."""
    if by in (None, "agent_id", "team") and not queue:
        got = _from_days(session, who, start=start, end=end, by=by, period=period, team=team)
        if got is not None:
            return got
    where = [col(Call.started_at) >= start, col(Call.started_at) < end, calls_clause(who)]
    where += [col(Call.team) == team] if team else []
    where += [col(Call.queue) == queue] if queue else []
    gap_s = get_settings().shift_gap_min * 60
    group = getattr(Call, by) if by else sa.literal("")
    if session.get_bind().dialect.name != "postgresql":
        calls: dict[tuple[str, str], list[KpiCall]] = defaultdict(list)
        q = sa.select(col(Call.started_at), col(Call.duration_s), col(Call.agent_id), group).where(*where)
        for started, duration, agent, g in session.execute(q):
            calls[(_period_key(period, started), g or "")].append(
                KpiCall(call_id="", started_at=started, duration_s=duration, agent_id=agent))
        out: dict[tuple[str, str], float | None] = {}
        for k, cs in calls.items():
            out[k] = calls_per_hour(cs, shift_gap_s=gap_s)
        return out
    utc = func.timezone("UTC", col(Call.started_at))
    day = func.date_trunc("week", utc) if period == "week" else utc
    key = func.to_char(day, _PERIOD_FORMAT[period]).label("p")
    started = col(Call.started_at)
    ended = started + func.make_interval(0, 0, 0, 0, 0, 0, col(Call.duration_s))
    running = func.max(ended).over(partition_by=(key, group, col(Call.agent_id)), order_by=started, rows=(None, -1))
    per_call = sa.select(key, group.label("g"), started.label("s"), ended.label("e"), running.label("m")) \
        .where(*where).subquery()
    s, e, m = per_call.c.s, per_call.c.e, per_call.c.m
    opens = sa.or_(m.is_(None), s - m > func.make_interval(0, 0, 0, 0, 0, 0, gap_s))
    worked = sa.case((opens, func.extract("epoch", e - s)), else_=func.greatest(0, func.extract("epoch", e - m)))
    q2 = sa.select(per_call.c.p, per_call.c.g, func.count(), func.sum(worked)).group_by(per_call.c.p, per_call.c.g)
    result: dict[tuple[str, str], Any] = {}
    for p, g, n, seconds in session.execute(q2):
        hours = float(seconds or 0) / 3600.0
        result[(p, g or "")] = n / hours if hours > 0 else None
    return result
