"""Dashboard aggregates: score trends, pass and critical-fail rates, workload, KPIs, AI-vs-human agreement.

Scores are reviewed (final) scores from ``reviews``; calibration never enters. The KPIs are those a
recording can show (glossary): monitoring score (监听分值), average talk time (平均交谈时间),
non-talk share, first-contact resolution (一次性解决问题的呼叫率) from its rubric item.
All queries are bounded by a date window on indexed timestamps. The KPIs and the score trend take
the calls that *started* in the window (a monitoring score belongs to the period the agent worked,
however late it was reviewed); workload counts reviews *submitted* in the window, and agreement
reads the rolling window of scoring.agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from review_app.workflow import evalview
from review_app.workflow.sampling import WindowEndsBeforeStart
from scoring.agreement import item_agreements
from storage.access import Perm, calls_clause, require
from storage.calls import Call
from storage.errors import InvalidInput
from storage.reviews import Assignment, AssignmentState, Review, Verdict
from storage.users import Principal

FCR_ITEMS = ("resolved", "fcr", "first-contact-resolution")
MAX_CALLS = 20000  # the per-call parts (critical fails, agreement) look at most this many calls


@dataclass(frozen=True)
class Kpis:
    calls: int
    reviewed: int
    monitoring_score: float | None
    pass_rate: float | None
    retraining: int
    critical_fail_rate: float | None
    avg_talk_s: float | None
    fcr_rate: float | None


def _window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise WindowEndsBeforeStart("dashboard")


def _calls_q(who: Principal, start: datetime, end: datetime, team: str | None, queue: str | None) -> Any:
    q = select(Call).where(Call.started_at >= start, Call.started_at < end, calls_clause(who))
    if team:
        q = q.where(Call.team == team)
    if queue:
        q = q.where(Call.queue == queue)
    return q


def kpis(
    session: Session,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    team: str | None = None,
    queue: str | None = None,
) -> Kpis:
    require(who, Perm.dashboard)
    _window(start, end)
    calls = _calls_q(who, start, end, team, queue).subquery()
    n_calls, talk = session.exec(select(func.count(), func.avg(calls.c.duration_s))).one()
    rq = select(Review).join(calls, calls.c.call_id == Review.call_id)
    reviews = list(session.exec(rq))
    scores = [r.score for r in reviews if r.score is not None]
    passed = [r.passed for r in reviews if r.passed is not None]
    ids = [c for (c,) in session.execute(select(calls.c.call_id).limit(MAX_CALLS))]
    autos = evalview.auto_summaries(session, ids)
    fcr = _fcr(session, [r.call_id for r in reviews])
    return Kpis(
        calls=n_calls,
        reviewed=len(reviews),
        monitoring_score=round(sum(scores) / len(scores), 1) if scores else None,
        pass_rate=round(100 * sum(passed) / len(passed), 1) if passed else None,
        retraining=sum(1 for r in reviews if r.verdict == Verdict.retraining),
        critical_fail_rate=round(100 * sum(a.critical_fail for a in autos.values()) / len(autos), 1) if autos else None,
        avg_talk_s=round(float(talk), 1) if talk is not None else None,
        fcr_rate=fcr,
    )


def _fcr(session: Session, call_ids: list[str]) -> float | None:
    answers = evalview.final_answers(session, call_ids[:MAX_CALLS], FCR_ITEMS)
    decided = [a for a in answers if a in ("yes", "no")]
    return round(100 * decided.count("yes") / len(decided), 1) if decided else None


def score_trend(
    session: Session,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    by: str = "team",
    team: str | None = None,
    queue: str | None = None,
) -> list[dict]:
    """Daily mean reviewed score per team, agent or queue, by the day of the call (as the KPIs)."""
    require(who, Perm.dashboard)
    _window(start, end)
    calls = _calls_q(who, start, end, team, queue).subquery()
    group = {"team": calls.c.team, "agent": calls.c.agent_id, "queue": calls.c.queue}.get(by)
    if group is None:
        raise InvalidInput(f"trend by {by!r}: use team, agent or queue")
    day = func.substr(sa.cast(calls.c.started_at, sa.String), 1, 10)
    q = (
        select(day, group, func.avg(Review.score), func.count())
        .select_from(Review)
        .join(calls, calls.c.call_id == Review.call_id)
        .where(col(Review.score).is_not(None))
        .group_by(day, group)
        .order_by(day)
    )
    return [{"day": d, by: g or "-", "score": round(float(s), 1), "reviews": n} for d, g, s, n in session.exec(q)]


def workload(session: Session, who: Principal, *, start: datetime, end: datetime) -> list[dict]:
    """Per inspector: reviews submitted in the window and assignments still open."""
    require(who, Perm.dashboard)
    done = dict(
        session.exec(
            select(Review.inspector, func.count())
            .join(Call, col(Call.call_id) == Review.call_id)
            .where(Review.created_at >= start, Review.created_at < end, calls_clause(who))
            .group_by(Review.inspector)
        ).all()
    )
    open_ = dict(
        session.exec(
            select(Assignment.inspector, func.count())
            .join(Call, col(Call.call_id) == Assignment.call_id)
            .where(Assignment.state == AssignmentState.open, calls_clause(who))
            .group_by(Assignment.inspector)
        ).all()
    )
    return [
        {"inspector": i, "reviews": done.get(i, 0), "open": open_.get(i, 0)} for i in sorted(set(done) | set(open_))
    ]


def agreement(session: Session, who: Principal, *, start: datetime, end: datetime) -> list[dict]:
    """Per item: agreement % and Cohen's κ of auto answers vs inspectors' final answers in the window."""
    require(who, Perm.dashboard)
    _window(start, end)
    days = max(1, round((end - start).total_seconds() / 86400))
    titles = evalview.item_titles()
    return [
        {
            "item": a.item_id,
            "title": titles.get(a.item_id, a.item_id),
            "reviewed": a.reviewed,
            "agreement": round(a.agree_pct, 1),
            "kappa": None if a.kappa is None else round(a.kappa, 2),
        }
        for a in item_agreements(session, now=end, days=days)
        if a.agree_pct is not None
    ]
