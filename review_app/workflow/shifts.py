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
worked seconds of the day's shifts, the first call's start, the first shift's end and the latest end,
and the day's join to the day before, written at refresh time: when the day's first call starts within
the gap of the day before's latest end, its first shift continues the shift before and the day adds
``first_start - that end`` (``join_s``) to its own worked time. So one ``GROUP BY`` per period, group,
agent and run of stored days sums them, with no ordering; a day adds its join only when the day before
is in the same period and run (not read raw). The window's part days at its edges and the days with
calls changed since the refresh are computed from the call rows and joined to those runs in Python. An
agent's period is computed from its call rows in the rare cases the stored joins cannot answer: the day
before runs past the end of the day's first shift (overlapping calls across midnight), a call reaches
within the gap of the day after next (27-hour calls), or the agent has rows of two teams or tenants on
adjacent days that the group puts together.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, func

from review_app.workflow import rollup
from scoring.kpi import KpiCall, calls_per_hour, shift_hours
from storage import rollups
from storage.access import calls_clause
from storage.calls import Call
from storage.day_rollups import day_shifts, raw_cells
from storage.settings import get_settings
from storage.users import Principal, Role
from storage.windows import DAY, day_key, day_start

Part = tuple[str, str, str]  # (period key, group, agent)
# (part, first day, calls, worked s, first start, first shift's end (None: not known), latest end (s since
# 1970), unanswerable)
Piece = tuple[Part, str, int, float, float, float | None, float, bool]
_PERIOD_FORMAT = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM"}


def _period_key(period: str, when: datetime) -> str:
    d = when.date()
    if period == "month":
        return f"{d:%Y-%m}"
    if period == "week":
        return (d.fromordinal(d.toordinal() - d.weekday())).isoformat()
    return d.isoformat()


def _period_of_day(session: Session, period: str, day: Any) -> Any:
    """The period key of a day key column (SQL)."""
    if period == "month":
        return func.substr(day, 1, 7)
    if period == "day":
        return day
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("week", sa.cast(day, sa.Date)), "YYYY-MM-DD")
    return func.date(day, "-6 days", "weekday 1")  # the Monday on or before the day


def _first_days(d0: datetime, d1: datetime, period: str, dirty: list[datetime]) -> tuple[list[str], list[str]]:
    """Of the stored days [d0, d1): those that start a run of stored days (d0, the day after a day read
    raw), and those whose day before is not in their period and run (those and the period starts),
    which therefore do not add their stored join."""
    starts = {d0} | {d + DAY for d in dirty if d + DAY < d1}
    days = [d0 + i * DAY for i in range((d1 - d0) // DAY)]
    first = {d for d in days if d in starts or period == "day" or (period == "month" and d.day == 1)
             or (period == "week" and d.weekday() == 0)}
    return sorted(map(day_key, starts)), sorted(map(day_key, first))


def _stored(session: Session, who: Principal, where: list[Any], by: str | None, period: str, d0: datetime,
            d1: datetime, dirty: list[datetime], team: str | None) -> list[Piece]:
    """The stored days in one ``GROUP BY`` per (period, group, agent) and run of days between days read
    raw: each day adds its worked time and its join to the day before (kept at refresh time,
    storage/day_rollups.py ``link_days``) unless that day is not in its period and run. A piece's first
    shift end is that of the row on the run's first day (None when the agent has none: only a call
    reaching past the next midnight could join it, and such rows are flagged)."""
    t = day_shifts.c
    group = t.agent_id if by == "agent_id" else (t.team if by == "team" else sa.literal(""))
    run = sum((sa.case((t.day > day_key(d), 1), else_=0) for d in dirty), sa.literal(0))
    starts, first = _first_days(d0, d1, period, dirty)
    joined = sa.not_(t.day.in_(first)) if first else sa.true()
    # rows of another tenant or team on the day or the day before fall into this group unless the group is
    # one team of one tenant's (by team, or one team asked for, and not an admin across tenants)
    crossed = sa.literal(0) if who.role != Role.admin and (by == "team" or team) else t.crossed
    bad = sa.or_(t.reaches == 1, crossed == 1, sa.and_(joined, t.join_past_first == 1))
    key = (_period_of_day(session, period, t.day).label("p"), group.label("g"), t.agent_id.label("a"),
           run.label("run"))
    q = sa.select(*key, func.min(t.day), func.sum(t.calls),
                  func.sum(t.worked_s + sa.case((joined, t.join_s), else_=0.0)), func.min(t.first_start),
                  func.max(sa.case((t.day.in_(starts), t.first_end))), func.max(t.last_end),
                  func.max(sa.case((bad, 1), else_=0))).where(*where).group_by(*key)
    return [((p, g or "", a), day, n, float(w), fs, fe, le, bool(flag)) for p, g, a, _, day, n, w, fs, fe, le, flag
            in session.execute(q)]


def _fold(pieces: list[Piece], gap_s: float) -> tuple[dict[Part, list[float]], set[Part]]:
    """(calls, worked seconds) per (period, group, agent) from its pieces (days, or runs of days joined in
    the database) joined in day order, and the parts they cannot answer (see the module doc)."""
    parts: dict[Part, list[Piece]] = defaultdict(list)
    for piece in pieces:
        parts[piece[0]].append(piece)
    out: dict[Part, list[float]] = {}
    unanswered: set[Part] = set()
    for key, ps in parts.items():
        ps.sort(key=lambda piece: piece[1])
        if len({piece[1] for piece in ps}) < len(ps) or any(piece[7] for piece in ps):
            unanswered.add(key)
            continue
        n, worked, end = 0, 0.0, None
        for _, _, calls, w, first_start, first_end, last_end, _ in ps:
            if end is not None and first_start - end <= gap_s:
                if first_end is None or end > first_end:
                    unanswered.add(key)
                    break
                worked += first_start - end  # its first shift continues the one before: first_end - end, not its length
            worked += w
            n += calls
            end = last_end if end is None else max(end, last_end)
        else:
            out[key] = [n, worked]
    return out, unanswered


def _from_days(session: Session, who: Principal, *, start: datetime, end: datetime, by: str | None, period: str,
               team: str | None, known: set[str] | None | Literal[True]) -> dict[tuple[str, str], float | None] | None:
    """``rates`` from ``day_shifts``; None when the window holds no whole UTC day or was never refreshed."""
    d0, d1 = day_start(day_key(start)), day_start(day_key(end))
    d0 = d0 if d0 == start else d0 + DAY
    started = col(Call.started_at)
    if known is True:
        mark = rollups.watermark(session)
        if mark is None or d0 >= d1:
            return None
        changed = session.execute(sa.select(started).where(col(Call.updated_at) >= mark - rollups.OVERLAP,
                                                           started >= d0, started < d1).distinct())
        dirty = sorted({day_start(day_key(s)) for (s,) in changed})
    else:  # the hours touched since the refresh, as the page's sums read them: their calls' days and more
        if known is None or d0 >= d1:
            return None
        dirty = sorted({day_start(h[:10]) for h in known} & {d0 + i * DAY for i in range((d1 - d0) // DAY)})
    gap_s = get_settings().shift_gap_min * 60
    t = day_shifts.c
    where = [t.day >= day_key(d0), t.day < day_key(d1), *rollup.scope(who, day_shifts)]
    where += [t.day.not_in([day_key(d) for d in dirty])] if dirty else []
    where += [t.team == team] if team else []
    pieces = _stored(session, who, where, by, period, d0, d1, dirty, team)
    rest = [(a, b) for a, b in ((start, d0), (d1, end)) if a < b] + [(d, d + DAY) for d in dirty]
    clause = [calls_clause(who), *([col(Call.team) == team] if team else [])]
    if rest:
        for c in raw_cells(session, [sa.or_(*[sa.and_(started >= a, started < b) for a, b in rest]), *clause]):
            g = c.agent_id if by == "agent_id" else (c.team if by == "team" else "")
            reaches = c.last_end >= (day_start(c.day) + 2 * DAY).timestamp() - gap_s  # as link_days flags it
            pieces.append(((_period_key(period, day_start(c.day)), g, c.agent_id), c.day, c.calls, c.worked_s,
                           c.first_start, c.first_end, c.last_end, reaches))
    parts, unanswered = _fold(pieces, gap_s)
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
          team: str | None, queue: str | None,
          known: set[str] | None | Literal[True] = True) -> dict[tuple[str, str], float | None]:
    """Calls per shift hour per (period key, value of the call column ``by`` or '' for one group).
    ``known``: ``rollup.touched`` of this window when the caller has it (True: look up what is needed)."""
    if by in (None, "agent_id", "team") and not queue:
        got = _from_days(session, who, start=start, end=end, by=by, period=period, team=team, known=known)
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
