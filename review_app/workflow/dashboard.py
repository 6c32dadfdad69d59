"""Dashboard aggregates: score trends, pass and critical-fail rates, workload, KPIs, AI-vs-human agreement.

Scores are reviewed (final) scores from ``reviews``; calibration never enters. The KPIs are those a
recording can show (glossary): monitoring score (监听分值), average talk time (平均交谈时间),
non-talk share, first-contact resolution (一次性解决问题的呼叫率) from its rubric item.
The KPIs and the score trend are sums from the hour rollup (rollup.py; exact: the rows touched
since its last refresh are read raw); the other queries are bounded by a date window on indexed
timestamps. The KPIs and the score trend take the calls that *started* in the window (a monitoring
score belongs to the period the agent worked, however late it was reviewed); workload counts reviews
*submitted* in the window, and agreement reads the rolling window of scoring.agreement (its pair counts
per day from the agreement rollup, scoring/agreement_rollup.py; exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from review_app.workflow import evalview
from review_app.workflow.rollup import total, window_sums
from review_app.workflow.sampling import WindowEndsBeforeStart
from scoring.agreement import item_agreements
from storage.access import Perm, calls_clause, require
from storage.calls import Call
from storage.errors import InvalidInput
from storage.reviews import Assignment, AssignmentState, Review
from storage.users import Principal


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


def kpis(
    session: Session,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    team: str | None = None,
    queue: str | None = None,
) -> Kpis:
    """The month's tiles, summed from the hour rollup (exact: rollup.window_sums)."""
    require(who, Perm.dashboard)
    _window(start, end)
    s = total(window_sums(session, who, start, end, team=team, queue=queue).values())

    def pct(a: float, b: float) -> float | None:
        return round(100 * a / b, 1) if b else None

    return Kpis(
        calls=int(s["calls"]),
        reviewed=int(s["reviews"]),
        monitoring_score=round(s["review_score_sum"] / s["review_scored"], 1) if s["review_scored"] else None,
        pass_rate=pct(s["review_passed"], s["review_pass_known"]),
        retraining=int(s["review_retraining"]),
        critical_fail_rate=pct(s["auto_critical_fails"], s["autos"]),
        avg_talk_s=round(s["duration_s"] / s["calls"], 1) if s["calls"] else None,
        fcr_rate=pct(s["fcr_answers_yes"], s["fcr_answers"]),
    )


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
    """Daily mean reviewed score per team, agent or queue, by the (UTC) day of the call (as the KPIs)."""
    require(who, Perm.dashboard)
    _window(start, end)
    column = {"team": "team", "agent": "agent_id", "queue": "queue"}.get(by)
    if column is None:
        raise InvalidInput(f"trend by {by!r}: use team, agent or queue")
    sums = window_sums(session, who, start, end, by=column, team=team, queue=queue)
    return [{"day": d, by: g or "-", "score": round(s["review_score_sum"] / s["review_scored"], 1),
             "reviews": int(s["review_scored"])} for (d, g), s in sorted(sums.items()) if s["review_scored"]]


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
