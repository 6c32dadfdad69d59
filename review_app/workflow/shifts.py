"""Calls per shift hour per KPI group (scoring/kpi.py ``calls_per_hour``), computed in the database.

An agent's shifts are runs of their calls in which the gap from the running end (the latest end so
far) to the next call's start is at most ``shift_gap_min``. Sorted by start, each call adds to the
worked time what it extends the shift by: its whole length when it opens a shift, else how far its
end passes the running end (nothing when it ends before). The sum over a group's calls is the
sum of its agents' shift lengths, so on PostgreSQL one window function (the running end per agent,
group and period) and one ``GROUP BY`` give every group's hours without sending the calls to
Python. Elsewhere (SQLite) the group's calls are read (start, length, agent only) and
``scoring.kpi.calls_per_hour`` runs on them. Both read only the window's calls of the group.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func

from scoring.kpi import KpiCall, calls_per_hour
from storage.access import calls_clause
from storage.calls import Call
from storage.settings import get_settings
from storage.users import Principal

_PERIOD_FORMAT = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM"}


def _period_key(period: str, when: datetime) -> str:
    d = when.date()
    if period == "month":
        return f"{d:%Y-%m}"
    if period == "week":
        return (d.fromordinal(d.toordinal() - d.weekday())).isoformat()
    return d.isoformat()


def rates(session: Session, who: Principal, *, start: datetime, end: datetime, by: str | None, period: str,
          team: str | None, queue: str | None) -> dict[tuple[str, str], float | None]:
    """Calls per shift hour per (period key, value of the call column ``by`` or '' for one group)."""
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
