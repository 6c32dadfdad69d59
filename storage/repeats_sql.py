"""``hour_repeats`` rows computed in the database (PostgreSQL): one ``INSERT … SELECT`` per range.

The same rows as ``repeats.raw_rows`` (storage/repeats.py), set-based: a call is repeat-followed in a
scope when a window over the calls of its number (``PARTITION BY`` the number, and the tenant, and the
team) counts a call in ``(start, start + fcr_days]``. Timestamps are whole microseconds, so "strictly
after" is the frame's start one microsecond after the call. The window reads the range's calls and
those up to ``fcr_days`` after it (a later call outside the range counts); only the range's calls are
written. Used by the full refresh (``repeats.rebuild``); tests/test_rollup_sql.py proves the rows equal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

_TICK = timedelta(microseconds=1)
_FRAME = "ORDER BY started_at RANGE BETWEEN CAST(:tick AS interval) FOLLOWING AND CAST(:window AS interval) FOLLOWING"
INSERT = sa.text(f"""
INSERT INTO hour_repeats (hour, tenant, team, agent_id, queue, fcr_known, repeat_any, repeat_tenant, repeat_team)
SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS hour, tenant, coalesce(team, ''),
       coalesce(agent_id, ''), coalesce(queue, ''), count(number),
       count(*) FILTER (WHERE number IS NOT NULL AND later_any > 0),
       count(*) FILTER (WHERE number IS NOT NULL AND later_tenant > 0),
       count(*) FILTER (WHERE number IS NOT NULL AND later_team > 0)
FROM (
  SELECT started_at, tenant, team, agent_id, queue, number,
         count(*) OVER (PARTITION BY number {_FRAME}) AS later_any,
         count(*) OVER (PARTITION BY number, tenant {_FRAME}) AS later_tenant,
         count(*) OVER (PARTITION BY number, tenant, team {_FRAME}) AS later_team
  FROM (SELECT started_at, tenant, team, agent_id, queue,
               nullif(CASE WHEN direction = 'outbound' THEN callee ELSE caller END, '') AS number
        FROM calls WHERE started_at >= :a AND started_at <= :upto) x
) w
WHERE started_at < :b
GROUP BY 1, 2, 3, 4, 5""")


def insert_rows(session: Session, start: datetime, end: datetime, fcr_days: float) -> int:
    """Write the rows of the calls that started in [start, end) (their old rows deleted first); the rows written."""
    window = timedelta(days=fcr_days)
    session.execute(sa.text("SET LOCAL jit = off"))  # a short statement the planner overrates
    params = {"a": start, "b": end, "upto": end + window, "tick": _TICK, "window": window}
    return int(getattr(session.execute(INSERT, params), "rowcount", 0) or 0)
