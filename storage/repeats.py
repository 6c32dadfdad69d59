"""Repeat calls per hour (``hour_repeats``): the rollup of first-contact resolution by repeat calls.

A call with a known customer number (the caller of an inbound call, the callee of an outbound one)
is a *repeat-followed* call when the same number made another call strictly after it and at most
``fcr_days`` later (scoring/kpi.py, ``first_contact_resolved``). Which later calls count depends on
who looks: the KPI page counts only the calls its viewer may see (storage/access.py). So each row
holds the count three times, one per kind of scope:

- ``repeat_any``: any later call (an admin, who sees every tenant);
- ``repeat_tenant``: a later call of the same tenant (a supervisor of the whole tenant);
- ``repeat_team``: of the same tenant and team (a supervisor of one team).

Any other viewer (several teams but not all; a role that sees no team) is none of these; the KPI page
computes that case from the call rows. Rows are keyed like ``hour_stats`` without the rubric: UTC
hour of the call's start, tenant, team, agent, queue ('' for none).

The rows are refreshed with ``hour_stats`` (review_app/workflow/rollup.py ``refresh``), under its
lock and watermark. A call's row changes when the call changes (its ``updated_at``) and when a
later call of its number arrives or moves, so an hour is *touched* when one of its calls changed or
when a changed call's number called in the ``fcr_days`` before it (:func:`touched_hours`). A
touched hour is recomputed wholesale (DELETE, INSERT), never added to. The rows depend on the
``fcr_days`` setting, which ``rollup_state`` keeps with them (``fcr_days`` of the ``hour_stats`` row):
while the setting differs from it, :func:`window_counts` reads the call rows (the figures follow the
setting at once), and the next refresh, incremental or not, recomputes every row with the new setting.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col

from storage import repeats_sql, rollups, windows
from storage.access import Perm, can
from storage.calls import Call, Direction
from storage.rollups import HOUR, hour_key, hour_ranges
from storage.settings import get_settings
from storage.users import Principal, Role

# a number's calls, for the repeat look-ups of a short range (the live tail, a window's part hours)
CALLER_INDEX = sa.Index("ix_calls_caller_started", col(Call.caller), col(Call.started_at))
CALLEE_INDEX = sa.Index("ix_calls_callee_started", col(Call.callee), col(Call.started_at))
SCOPES = ("any", "tenant", "team")
COUNTS = ("fcr_known", *(f"repeat_{s}" for s in SCOPES))
KEY = ("hour", "tenant", "team", "agent_id", "queue")
_BY_NUMBER = 2000  # more numbers than this: read the range's calls by time instead of by number
_CHUNK = 500


class HourRepeats(SQLModel, table=True):
    __tablename__ = "hour_repeats"
    __table_args__ = (sa.Index("ix_hour_repeats_tenant_team_hour", "tenant", "team", "hour"),)

    hour: str = Field(primary_key=True, max_length=13)  # YYYY-MM-DDTHH of the call's start, UTC
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    agent_id: str = Field(primary_key=True, max_length=64)
    queue: str = Field(primary_key=True, max_length=64)
    fcr_known: int = 0  # calls with a customer number
    repeat_any: int = 0  # of those, calls the same number called again within fcr_days: any call
    repeat_tenant: int = 0  # ... a call of the same tenant
    repeat_team: int = 0  # ... of the same tenant and team


class DayRepeats(SQLModel, table=True):
    """``hour_repeats`` summed per UTC day, tenant, team and agent: the day layer (storage/day_rollups.py
    refreshes it)."""

    __tablename__ = "day_repeats"
    __table_args__ = (sa.Index("ix_day_repeats_tenant_team_day", "tenant", "team", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=64)
    fcr_known: int = 0
    repeat_any: int = 0
    repeat_tenant: int = 0
    repeat_team: int = 0


hour_repeats: sa.Table = HourRepeats.__table__  # type: ignore[attr-defined]
day_repeats: sa.Table = DayRepeats.__table__  # type: ignore[attr-defined]
Row = tuple[str, str, str, str, str]  # KEY


def _number() -> Any:
    return sa.case((col(Call.direction) == Direction.outbound.value, col(Call.callee)), else_=col(Call.caller))


def _scope_keys(tenant: str, team: str | None) -> tuple[tuple[Any, ...], ...]:
    return ((), (tenant,), (tenant, team))


def _later(session: Session, numbers: set[str], after: datetime, upto: datetime) -> list[tuple[Any, ...]]:
    """(number, tenant, team, start) of every call with one of ``numbers`` in (after, upto]."""
    cols = (_number(), col(Call.tenant), col(Call.team), col(Call.started_at))
    when = (col(Call.started_at) > after, col(Call.started_at) <= upto)
    if len(numbers) > _BY_NUMBER:
        return [tuple(r) for r in session.execute(sa.select(*cols).where(*when)) if r[0] in numbers]
    out: list[tuple[Any, ...]] = []
    ordered = sorted(numbers)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i:i + _CHUNK]
        by_dir = sa.or_(sa.and_(col(Call.direction) == Direction.outbound.value, col(Call.callee).in_(chunk)),
                        sa.and_(col(Call.direction) != Direction.outbound.value, col(Call.caller).in_(chunk)))
        out += [tuple(r) for r in session.execute(sa.select(*cols).where(*when, by_dir))]
    return out


def raw_rows(session: Session, start: datetime, end: datetime) -> dict[Row, dict[str, int]]:
    """The rows for the calls that started in [start, end), computed from the call rows."""
    window = timedelta(days=get_settings().fcr_days)
    q = sa.select(col(Call.tenant), col(Call.team), col(Call.agent_id), col(Call.queue), col(Call.started_at),
                  _number()).where(col(Call.started_at) >= start, col(Call.started_at) < end)
    calls = list(session.execute(q))
    numbers = {r[5] for r in calls if r[5]}
    starts: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    for number, tenant, team, started in _later(session, numbers, start, end + window) if numbers else ():
        for i, scope in enumerate(_scope_keys(tenant, team)):
            starts[(i, number, *scope)].append(started)
    for v in starts.values():
        v.sort()
    out: dict[Row, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for tenant, team, agent, queue, started, number in calls:
        row = out[(hour_key(started), tenant, team or "", agent or "", queue or "")]
        if not number:
            continue
        row["fcr_known"] += 1
        for i, scope in enumerate(_scope_keys(tenant, team)):
            later = starts.get((i, number, *scope), [])
            j = bisect_right(later, started)  # the first call strictly after this one
            row[f"repeat_{SCOPES[i]}"] += j < len(later) and later[j] <= started + window
    return dict(out)


def touched_hours(session: Session, since: datetime) -> set[str]:
    """Hours whose rows may have changed at or after ``since``: those of calls created or changed since,
    and those of the earlier calls (up to ``fcr_days`` before) of the same numbers."""
    window = timedelta(days=get_settings().fcr_days)
    changed = list(session.execute(sa.select(col(Call.started_at), _number()).where(col(Call.updated_at) >= since)))
    out = {hour_key(started) for started, _ in changed}
    numbers = {n for _, n in changed if n}
    if not numbers:
        return out
    latest: dict[str, datetime] = {}
    for started, n in changed:
        if n and (n not in latest or started > latest[n]):
            latest[n] = started
    first = min(s for s, _ in changed) - window
    for number, _, _, started in _later(session, numbers, first - timedelta(microseconds=1), max(latest.values())):
        if started <= latest[number]:  # an earlier call of a number that called (again) since
            out.add(hour_key(started))
    return out


def replace(session: Session, ranges: Iterable[tuple[datetime, datetime]]) -> int:
    """Recompute the rows of these hour ranges from the call rows (DELETE, INSERT); the rows written."""
    written = 0
    for a, b in ranges:
        rows = [dict(zip(KEY, k, strict=True)) | v for k, v in raw_rows(session, a, b).items()]
        rollups.replace_hours(session, [(a, b)], rows, table=HourRepeats)
        written += len(rows)
    return written


def rebuild(session: Session) -> int:
    """Recompute every row (month by month); the rows written. On PostgreSQL each month is one
    statement (storage/repeats_sql.py), computing the same rows as :func:`raw_rows`."""
    session.execute(sa.delete(HourRepeats))
    if session.get_bind().dialect.name != "postgresql":
        return replace(session, rollups.all_hours(session))
    fcr_days = get_settings().fcr_days
    return sum(repeats_sql.insert_rows(session, a, b, fcr_days) for a, b in rollups.all_hours(session))


def refresh(session: Session, since: datetime | None) -> list[tuple[datetime, datetime]] | None:
    """The refresh's part for these rows (``since`` None: every hour); called by the rollup's refresh.
    The hour ranges recomputed (None: all), whose days the day layer recomputes next."""
    if since is None:
        rebuild(session)
        return None
    ranges = hour_ranges(touched_hours(session, since))
    replace(session, ranges)
    return ranges


def scope_of(who: Principal) -> str | None:
    """Which count a viewer's FCR reads (see the module doc); None: none of them."""
    if who.role == Role.admin:
        return "any"
    if can(who, Perm.view_all_calls):
        teams = who.teams
        return "tenant" if teams is None else ("team" if len(teams) == 1 else None)
    return None


def _scope_clause(who: Principal, table: Any) -> list[Any]:
    """``access.calls_clause`` on a repeat table's columns for a viewer :func:`scope_of` serves."""
    if who.role == Role.admin:
        return []
    tenant = table.c.tenant == who.tenant
    return [tenant] if who.teams is None else [tenant, table.c.team.in_(who.teams)]


def _visible(who: Principal, row: Row) -> bool:
    _, tenant, team, _, _ = row
    if who.role == Role.admin:
        return True
    if tenant != who.tenant:
        return False
    return who.teams is None or team in who.teams


def window_counts(session: Session, who: Principal, start: datetime, end: datetime, *, by: str | None = None,
                  team: str | None = None, queue: str | None = None) -> dict[tuple[str, str], tuple[int, int]] | None:
    """(calls with a customer number, repeat-followed calls) per (UTC day, value of ``by``) of the calls
    ``who`` may see that started in [start, end), exact at the moment of reading (as rollup.window_sums:
    whole UTC days and hours not touched since the last refresh from ``day_repeats`` and the rows, the
    rest from the call rows). None when ``who`` sees several teams but not all (see :func:`scope_of`)."""
    scope = scope_of(who)
    if scope is None:
        return None
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    mark = rollups.repeats_watermark(session, get_settings().fcr_days)
    touched = None if mark is None else (touched_hours(session, mark - rollups.OVERLAP) if end - start >= HOUR
                                         else set())
    cut = windows.split(start, end, touched, days=by != "queue" and queue is None)
    for q in windows.rolled_reads(cut, (hour_repeats, day_repeats), lambda table: _scope_clause(who, table),
                                  ("fcr_known", f"repeat_{scope}"), by=by, team=team, queue=queue):
        for d, g, known, repeats in session.execute(q):
            c = counts[(d, g or "")]
            c[0] += int(known or 0)
            c[1] += int(repeats or 0)
    for a, b in cut.raw:
        for row, v in raw_rows(session, a, b).items():
            if not _visible(who, row) or (team and row[2] != team) or (queue and row[4] != queue):
                continue
            c = counts[(row[0][:10], {"agent_id": row[3], "team": row[2], "queue": row[4]}.get(by or "", ""))]
            c[0] += v["fcr_known"]
            c[1] += v[f"repeat_{scope}"]
    return {k: (a, b) for k, (a, b) in counts.items()}
