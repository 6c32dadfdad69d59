"""Per-day pre-aggregates of calls, auto-evaluations and reviews, refreshed incrementally (``day_stats``).

One row per call day (UTC), tenant, team, agent and queue ('' where the call has none): how many
calls and seconds, how many active auto-evaluations with their score sum and critical fails, how
many reviews with their score sum, passes and retraining verdicts. A month's dashboard then sums
about 30 × agents rows instead of reading every call, evaluation and answer of the month.

Refreshing is incremental and counts every fact exactly once:

- a refresh finds the days touched since the watermark: calls created or changed, evaluations
  added or superseded, reviews submitted, disputes resolved (each through an indexed timestamp);
- it recomputes each touched day wholesale from the raw rows (DELETE the day, INSERT its
  aggregate): a day seen twice is recomputed twice, never added to twice;
- it looks back ``OVERLAP`` before the watermark, so a row committed late with an earlier timestamp
  (a transaction that ran long) is still seen;
- refreshers take the state row ``FOR UPDATE`` (one at a time), and the watermark moves in one
  guarded UPDATE from the value read to the new one: zero rows means another refresher moved it,
  and this one raises instead of writing over its work.

The rollup is as fresh as its last refresh (`callqc db rollup`, run by cron or a timer).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, func, select

from storage.calls import Call
from storage.errors import Conflict
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.models import UTCDateTime, utcnow
from storage.reviews import Dispute, Review, Verdict

NAME = "day_stats"
OVERLAP = timedelta(minutes=10)  # longer than any transaction that writes calls, evaluations or reviews


class DayStats(SQLModel, table=True):
    __tablename__ = "day_stats"

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD of the call's start, UTC
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    agent_id: str = Field(primary_key=True, max_length=64)
    queue: str = Field(primary_key=True, max_length=64)
    calls: int = 0
    talk_s: float = 0.0  # sum of durations
    autos: int = 0  # calls with an active auto-evaluation
    auto_scored: int = 0
    auto_score_sum: float = 0.0
    auto_critical_fails: int = 0  # active auto-evaluations with a critical item answered "no"
    reviews: int = 0
    review_scored: int = 0
    review_score_sum: float = 0.0
    review_pass_known: int = 0
    review_passed: int = 0
    retraining: int = 0


class RollupState(SQLModel, table=True):
    __tablename__ = "rollup_state"

    name: str = Field(primary_key=True, max_length=32)
    watermark: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    refreshed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))


class RollupMoved(Conflict):
    """another refresh moved the rollup's watermark first; run the refresh again"""


@dataclass(frozen=True)
class Refreshed:
    days: int
    rows: int
    watermark: datetime


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _state(session: Session) -> RollupState:
    q = select(RollupState).where(RollupState.name == NAME).with_for_update()
    state = session.exec(q).first()
    if state is None:
        try:
            with session.begin_nested():
                session.add(RollupState(name=NAME))
        except sa.exc.IntegrityError:
            pass  # another refresher made it a moment ago
        state = session.exec(q.execution_options(populate_existing=True)).one()
    return state


def _touched(session: Session, since: datetime | None) -> set[date]:
    """Days (of call start) whose rows changed at or after ``since`` (None: every day with calls)."""
    starts: list[Any]
    if since is None:
        starts = [session.exec(select(func.min(Call.started_at))).one(), session.exec(
            select(func.max(Call.started_at))).one()]
        if starts[0] is None:
            return set()
        first, last = (s.astimezone(UTC).date() for s in starts)
        return {first + timedelta(days=n) for n in range((last - first).days + 1)}
    queries = [
        select(Call.started_at).where(sa.or_(col(Call.updated_at) >= since, col(Call.created_at) >= since)),
        select(Call.started_at).join(Evaluation, col(Evaluation.call_id) == Call.call_id)
        .where(col(Evaluation.updated_at) >= since),
        select(Call.started_at).join(Review, col(Review.call_id) == Call.call_id)
        .where(col(Review.created_at) >= since),
        select(Call.started_at).join(Review, col(Review.call_id) == Call.call_id)
        .join(Dispute, col(Dispute.review_id) == Review.id).where(col(Dispute.resolved_at) >= since),
    ]
    return {s.astimezone(UTC).date() for q in queries for s in session.exec(q.distinct())}


def _group(c: Any) -> tuple[Any, ...]:
    return (c.tenant, func.coalesce(c.team, ""), func.coalesce(c.agent_id, ""), func.coalesce(c.queue, ""))


def day_rows(session: Session, day: date) -> list[DayStats]:
    """The day's aggregate computed from the raw rows."""
    start = _day_start(day)
    in_day = (col(Call.started_at) >= start, col(Call.started_at) < start + timedelta(days=1))
    key = _group(Call)
    rows: dict[tuple[str, ...], DayStats] = {}

    def row(k: tuple[Any, ...]) -> DayStats:
        k = tuple(str(x) for x in k)
        if k not in rows:
            rows[k] = DayStats(day=day.isoformat(), tenant=k[0], team=k[1], agent_id=k[2], queue=k[3])
        return rows[k]

    calls = (sa.select(*key, func.count(), func.coalesce(func.sum(col(Call.duration_s)), 0.0))
             .where(*in_day).group_by(*key))
    for *k, n, talk in session.execute(calls):
        r = row(tuple(k))
        r.calls, r.talk_s = n, float(talk)
    ev_id, ev_call, total = col(Evaluation.id), col(Evaluation.call_id), col(Evaluation.total)
    critical_no = (sa.select(col(EvaluationItem.id)).where(col(EvaluationItem.evaluation_id) == ev_id,
                                                           col(EvaluationItem.critical) != "",
                                                           col(EvaluationItem.auto_answer) == "no").exists())
    autos = (sa.select(*key, func.count(sa.distinct(ev_call)), func.count(total), func.coalesce(func.sum(total), 0.0),
                       func.count(sa.distinct(sa.case((critical_no, ev_call)))))
             .join(Evaluation, ev_call == col(Call.call_id))
             .where(*in_day, col(Evaluation.kind) == EvaluationKind.auto, col(Evaluation.active).is_(True))
             .group_by(*key))
    for *k, n, scored, points, crit in session.execute(autos):
        r = row(tuple(k))
        r.autos, r.auto_scored, r.auto_score_sum, r.auto_critical_fails = n, scored, float(points), crit
    score, passed = col(Review.score), col(Review.passed)
    reviews = (sa.select(*key, func.count(), func.count(score), func.coalesce(func.sum(score), 0.0),
                         func.count(passed), func.sum(sa.case((passed.is_(True), 1), else_=0)),
                         func.sum(sa.case((col(Review.verdict) == Verdict.retraining, 1), else_=0)))
               .join(Review, col(Review.call_id) == col(Call.call_id)).where(*in_day).group_by(*key))
    for *k, n, scored, points, known, good, retraining in session.execute(reviews):
        r = row(tuple(k))
        r.reviews, r.review_scored, r.review_score_sum = n, scored, float(points)
        r.review_pass_known, r.review_passed, r.retraining = known, int(good or 0), int(retraining or 0)
    return list(rows.values())


def refresh(session: Session, *, now: datetime | None = None) -> Refreshed:
    """Recompute every day touched since the last refresh; move the watermark (guarded)."""
    state = _state(session)
    old = state.watermark
    upto = now or utcnow()
    days = _touched(session, None if old is None else old - OVERLAP)
    n = 0
    for day in sorted(days):
        session.execute(sa.delete(DayStats).where(col(DayStats.day) == day.isoformat()))
        fresh = day_rows(session, day)
        session.add_all(fresh)
        n += len(fresh)
    session.flush()
    same = col(RollupState.watermark).is_(None) if old is None else col(RollupState.watermark) == old
    moved = session.execute(sa.update(RollupState).where(col(RollupState.name) == NAME, same)
                            .values(watermark=upto, refreshed_at=utcnow()).returning(col(RollupState.name))).first()
    if moved is None:
        raise RollupMoved()
    session.expire(state)
    return Refreshed(len(days), n, upto)


def recompute_all(session: Session) -> None:
    """Make the next refresh recompute every day: after rows were written with past timestamps
    (``callqc dev populate``, an import), which the watermark would not look back to."""
    session.execute(sa.update(RollupState).where(col(RollupState.name) == NAME).values(watermark=None))


def sums(session: Session, where: list[Any], by: Any = None) -> dict[Any, dict[str, float]]:
    """Column sums of the rows matching ``where``, per value of ``by`` (a DayStats column) or as one."""
    cols = ("calls", "talk_s", "autos", "auto_scored", "auto_score_sum", "auto_critical_fails", "reviews",
            "review_scored", "review_score_sum", "review_pass_known", "review_passed", "retraining")
    q = select(*([by] if by is not None else []), *[func.coalesce(func.sum(getattr(DayStats, c)), 0) for c in cols])
    q = q.where(*where)
    if by is not None:
        q = q.group_by(by)
    out: dict[Any, dict[str, float]] = defaultdict(dict)
    for r in session.exec(q):
        k, vals = (r[0], r[1:]) if by is not None else (None, r)
        out[k] = {c: float(v) for c, v in zip(cols, vals, strict=True)}
    return dict(out)
