"""Rubric item answers per UTC day and agent (``day_agent_items``): the rollup of the scorecard's item rates.

One row per UTC day of the call's start, tenant, team ('' for none), agent ('' for none) and rubric
item: how many of the scorecard's counted evaluations of those calls answered the item yes or no,
and how many yes. Counted as the scorecard counts (review_app/workflow/agent_summary.py ``_counted``):
the newest review's evaluation when that review has a score (a newest review without one counts
nothing), else the active auto-submitted evaluation when it has a total. The answer is the final
one, else the inspector's, else the machine's. ``hour_items`` keeps no agent, and counts a review
without a score, so it cannot serve the scorecard.

The rows are refreshed with ``hour_stats`` (review_app/workflow/rollup.py ``refresh``), under its
lock and watermark: every UTC day with an hour touched since the last refresh is recomputed whole
(DELETE, then one ``INSERT … SELECT … GROUP BY``), never added to, so a refresh counts each answer
once however often it runs. A reader takes a day from here only when none of its hours was touched
since the last refresh; the rest of its window comes from the raw rows through :func:`counts_query`,
the very query that fills the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func

from storage import rollups
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Review
from storage.windows import DAY, day_key, day_start, runs

KEY = ("day", "tenant", "team", "agent_id", "item_id")

day_agent_items = sa.Table(
    "day_agent_items", SQLModel.metadata,
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD of the call's start, UTC
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), primary_key=True),  # '' when the call has none
    sa.Column("agent_id", sa.String(64), primary_key=True),  # '' when the call has none
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("answered", sa.Integer, nullable=False),  # counted evaluations that answered yes or no
    sa.Column("yes", sa.Integer, nullable=False),
    # the scorecard reads one agent's days: every column in the key, so the read is index-only on
    # PostgreSQL (and needs no INCLUDE, which SQLite lacks)
    sa.Index("ix_day_agent_items_agent_day", "agent_id", "day", "tenant", "team", "item_id", "answered", "yes"),
)


def _day(session: Session) -> Any:
    started = col(Call.started_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", started), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", started)


def counts_query(session: Session, where: list[Any]) -> Any:
    """(day, tenant, team, agent, item, answered, yes) over the counted evaluations of the calls matching
    ``where``, counted in the database."""
    calls = sa.select(col(Call.call_id).label("call_id"), _day(session).label("day"),
                      col(Call.tenant).label("tenant"), func.coalesce(col(Call.team), "").label("team"),
                      func.coalesce(col(Call.agent_id), "").label("agent_id")).where(*where).subquery()
    keys = (calls.c.day, calls.c.tenant, calls.c.team, calls.c.agent_id)
    newest = (sa.select(col(Review.call_id).label("call_id"), func.max(col(Review.id)).label("rid"))
              .join(calls, calls.c.call_id == col(Review.call_id)).group_by(col(Review.call_id)).subquery())
    reviewed = (sa.select(*keys, col(Review.evaluation_id).label("ev"))
                .join(newest, newest.c.call_id == calls.c.call_id).join(Review, col(Review.id) == newest.c.rid)
                .where(col(Review.score).is_not(None)))
    auto = (sa.select(*keys, col(Evaluation.id).label("ev"))
            .join(Evaluation, col(Evaluation.call_id) == calls.c.call_id)
            .where(col(Evaluation.kind) == EvaluationKind.auto, col(Evaluation.active).is_(True),
                   col(Evaluation.auto_submitted).is_(True), col(Evaluation.total).is_not(None),
                   calls.c.call_id.not_in(sa.select(newest.c.call_id))))
    counted = sa.union_all(reviewed, auto).subquery()
    it = EvaluationItem
    answer = func.coalesce(func.nullif(col(it.final_answer), ""), func.nullif(col(it.human_answer), ""),
                           func.nullif(col(it.auto_answer), ""))
    group = [counted.c.day, counted.c.tenant, counted.c.team, counted.c.agent_id, col(it.item_id)]
    return (sa.select(*group, func.count(), func.sum(sa.case((answer == "yes", 1), else_=0)))
            .join(it, col(it.evaluation_id) == counted.c.ev).where(answer.in_(("yes", "no"))).group_by(*group))


def replace(session: Session, ranges: list[tuple[datetime, datetime]]) -> None:
    """Recompute the rows of these whole-day ranges from the raw rows: per range one DELETE and one
    ``INSERT … SELECT`` (the same on both databases)."""
    t = day_agent_items.c
    for a, b in ranges:
        session.execute(sa.delete(day_agent_items).where(t.day >= day_key(a), t.day < day_key(b)))
        q = counts_query(session, [col(Call.started_at) >= a, col(Call.started_at) < b])
        session.execute(sa.insert(day_agent_items).from_select(list(KEY) + ["answered", "yes"], q))


def refresh(session: Session, since: datetime | None) -> None:
    """The refresh's part for these rows (``since`` None: every day, month by month); called by the
    rollup's refresh."""
    if since is None:
        session.execute(sa.delete(day_agent_items))
        hours = rollups.all_hours(session)
        if hours:
            first, last = day_start(day_key(hours[0][0])), _ceil_day(hours[-1][1])
            replace(session, [(a, min(a + 31 * DAY, last)) for a in (first + i * 31 * DAY
                                                                     for i in range(-(-(last - first) // (31 * DAY))))])
        return
    touched = rollups.touched_hours(session, since)
    replace(session, runs({day_start(h[:10]) for h in touched}, DAY))


def _ceil_day(t: datetime) -> datetime:
    d = day_start(day_key(t))
    return d if d == t else d + DAY
