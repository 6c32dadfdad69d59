"""Rubric item answers per hour (``hour_items``): the rollup of the monthly report's item view.

One row per UTC hour of the call's start, tenant, team ('-' for none) and rubric item: how many
counted evaluations (the newest review's, else the active auto-submitted one) of those calls answered
the item yes or no, and how many yes. The answer is the final one, else the inspector's, else the
machine's.

The rows are refreshed with ``hour_stats`` (review_app/workflow/rollup.py ``refresh``), under its
lock and watermark, for the same touched hours (a counted evaluation changes only through the
timestamps ``rollups.touched_hours`` follows). A touched hour is recomputed wholesale (DELETE,
INSERT), never added to. :func:`window_counts` reads a window exactly: whole hours not touched since
the last refresh from the rows, the rest with the same query from the raw rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, func

from storage import rollups
from storage.access import Perm, calls_clause, can
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Review
from storage.rollups import HOUR, hour_key, hour_ranges, hour_start
from storage.users import Principal, Role


class HourItems(SQLModel, table=True):
    __tablename__ = "hour_items"
    __table_args__ = (sa.Index("ix_hour_items_tenant_hour", "tenant", "hour"),)

    hour: str = Field(primary_key=True, max_length=13)  # YYYY-MM-DDTHH of the call's start, UTC
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '-' when the call has none (as the report shows it)
    item_id: str = Field(primary_key=True, max_length=64)
    answered: int = 0  # counted evaluations that answered the item yes or no
    yes: int = 0


def _hour(session: Session) -> Any:
    started = col(Call.started_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", started), 'YYYY-MM-DD"T"HH24')
    return func.strftime("%Y-%m-%dT%H", started)


def counts_query(session: Session, where: list[Any], *, by_hour: bool) -> Any:
    """(hour if ``by_hour``, tenant, team, item, answered, yes) over the counted evaluations of the calls
    matching ``where``, counted in the database (a month is over a million answers)."""
    keys = [_hour(session).label("hour")] if by_hour else []
    calls = sa.select(col(Call.call_id).label("call_id"), col(Call.tenant).label("tenant"),
                      func.coalesce(col(Call.team), "-").label("team"), *keys).where(*where).subquery()
    ckeys = [calls.c.hour] if by_hour else []
    newest = (sa.select(col(Review.call_id).label("call_id"), func.max(col(Review.id)).label("rid"))
              .join(calls, calls.c.call_id == col(Review.call_id)).group_by(col(Review.call_id)).subquery())
    reviewed = (sa.select(*ckeys, calls.c.tenant, calls.c.team, col(Review.evaluation_id).label("ev"))
                .join(newest, newest.c.call_id == calls.c.call_id).join(Review, col(Review.id) == newest.c.rid))
    auto = (sa.select(*ckeys, calls.c.tenant, calls.c.team, col(Evaluation.id).label("ev"))
            .join(Evaluation, col(Evaluation.call_id) == calls.c.call_id)
            .where(col(Evaluation.kind) == EvaluationKind.auto, col(Evaluation.active).is_(True),
                   col(Evaluation.auto_submitted).is_(True), calls.c.call_id.not_in(sa.select(newest.c.call_id))))
    counted = sa.union_all(reviewed, auto).subquery()
    it = EvaluationItem
    answer = func.coalesce(func.nullif(col(it.final_answer), ""), func.nullif(col(it.human_answer), ""),
                           col(it.auto_answer))
    group = [*([counted.c.hour] if by_hour else []), counted.c.tenant, counted.c.team, col(it.item_id)]
    return (sa.select(*group, func.count(), func.sum(sa.case((answer == "yes", 1), else_=0)))
            .join(it, col(it.evaluation_id) == counted.c.ev).where(answer.in_(("yes", "no"))).group_by(*group))


def replace(session: Session, ranges: list[tuple[datetime, datetime]]) -> int:
    """Recompute the rows of these hour ranges from the raw rows (DELETE, INSERT); the rows written."""
    written = 0
    for a, b in ranges:
        q = counts_query(session, [col(Call.started_at) >= a, col(Call.started_at) < b], by_hour=True)
        rows = [{"hour": hr, "tenant": tenant, "team": team, "item_id": item, "answered": n, "yes": int(yes)}
                for hr, tenant, team, item, n, yes in session.execute(q)]
        rollups.replace_hours(session, [(a, b)], rows, table=HourItems)
        written += len(rows)
    return written


def rebuild(session: Session) -> int:
    """Recompute every row (month by month); the rows written."""
    session.execute(sa.delete(HourItems))
    return replace(session, rollups.all_hours(session))


def refresh(session: Session, since: datetime | None) -> int:
    """The refresh's part for these rows (``since`` None: every hour); called by the rollup's refresh."""
    if since is None:
        return rebuild(session)
    return replace(session, hour_ranges(rollups.touched_hours(session, since)))


def _scope(who: Principal) -> list[Any]:
    if who.role == Role.admin:
        return []
    tenant = col(HourItems.tenant) == who.tenant
    if can(who, Perm.view_all_calls):
        return [tenant] if who.teams is None else [tenant, col(HourItems.team).in_(who.teams)]
    return [sa.false()]  # an agent's scope is not kept here: the report is for supervisors


def window_counts(session: Session, who: Principal, start: datetime, end: datetime,
                  team: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """(answered, yes) per (team, item) of the counted evaluations of the calls ``who`` may see that
    started in [start, end) (and of ``team``), exact at the moment of reading."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    first = hour_start(hour_key(start))
    first = first if first == start else first + HOUR
    last = hour_start(hour_key(end))
    mark = rollups.watermark(session)
    raw: list[tuple[datetime, datetime]] = []
    if mark is None or first >= last or (who.role != Role.admin and not can(who, Perm.view_all_calls)):
        raw.append((start, end))
    else:
        raw += [(a, b) for a, b in ((start, first), (last, end)) if a < b]
        dirty = {h for h in rollups.touched_hours(session, mark - rollups.OVERLAP) if first <= hour_start(h) < last}
        raw += hour_ranges(dirty)
        h = col(HourItems.hour)
        where = [h >= hour_key(first), h < hour_key(last), *_scope(who)]
        where += [h.not_in(sorted(dirty))] if dirty else []
        where += [col(HourItems.team) == team] if team else []
        keys = (col(HourItems.team), col(HourItems.item_id))
        q = (sa.select(*keys, func.sum(col(HourItems.answered)), func.sum(col(HourItems.yes)))
             .where(*where).group_by(*keys))
        for tm, item, n, yes in session.execute(q):
            c = out[(tm, item)]
            c[0] += int(n or 0)
            c[1] += int(yes or 0)
    for a, b in raw:
        where = [col(Call.started_at) >= a, col(Call.started_at) < b, calls_clause(who)]
        where += [col(Call.team) == team] if team else []
        for _, tm, item, n, yes in session.execute(counts_query(session, where, by_hour=False)):
            c = out[(tm, item)]
            c[0] += int(n)
            c[1] += int(yes or 0)
    return {k: (n, yes) for k, (n, yes) in out.items() if n}
