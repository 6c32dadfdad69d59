"""Dashboard aggregates: score trends, pass and critical-fail rates, workload, KPIs, AI-vs-human agreement.

Scores are reviewed (final) scores from ``reviews``; calibration never enters. The KPIs are those a
recording can show (glossary): monitoring score (监听分值), average talk time (平均交谈时间),
non-talk share, first-contact resolution (一次性解决问题的呼叫率) from its rubric item.
The KPIs and the score trend are sums from the hour rollup (rollup.py; exact: the rows touched
since its last refresh are read raw); the other queries are bounded by a date window on indexed
timestamps. The KPIs and the score trend take the calls that *started* in the window (a monitoring
score belongs to the period the agent worked, however late it was reviewed); workload counts reviews
*submitted* in the window, and agreement the pairs of scoring.agreement whose evaluation was last updated
in the window (its pair counts per day, tenant and team from the agreement rollup,
scoring/agreement_rollup.py; exact). Every part reads only the calls ``who`` may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from review_app.workflow import evalview
from review_app.workflow.rollup import total, window_sums
from review_app.workflow.sampling import WindowEndsBeforeStart
from scoring.agreement import window_agreements
from scoring.agreement_rollup import Scope
from storage.access import Perm, calls_clause, can, require
from storage.calls import Call
from storage.errors import InvalidInput
from storage.reviews import Assignment, AssignmentState, Review
from storage.users import Principal, Role


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


# what the tiles and the trend read of the hour rollup (ix_hour_stats_team_tiles covers them)
TILES = ("calls", "reviews", "review_scored", "review_score_sum", "review_pass_known", "review_passed",
         "review_retraining", "autos", "auto_critical_fails", "duration_s", "fcr_answers", "fcr_answers_yes")


def _tiles(s: dict[str, float]) -> Kpis:
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


def _trend(sums: dict[tuple[str, str], dict[str, float]], by: str) -> list[dict]:
    return [{"day": d, by: g or "-", "score": round(s["review_score_sum"] / s["review_scored"], 1),
             "reviews": int(s["review_scored"])} for (d, g), s in sorted(sums.items()) if s["review_scored"]]


def _trend_column(by: str) -> str:
    column = {"team": "team", "agent": "agent_id", "queue": "queue"}.get(by)
    if column is None:
        raise InvalidInput(f"trend by {by!r}: use team, agent or queue")
    return column


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
    return _tiles(total(window_sums(session, who, start, end, team=team, queue=queue, sums=TILES).values()))


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
    return tiles_and_trend(session, who, start=start, end=end, by=by, team=team, queue=queue)[1]


def tiles_and_trend(
    session: Session,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    by: str = "team",
    team: str | None = None,
    queue: str | None = None,
) -> tuple[Kpis, list[dict]]:
    """:func:`kpis` and :func:`score_trend` from one read of the hour rollup (one live-tail lookup, one
    sum): the tiles are the total of the trend's groups, since every figure is a sum."""
    require(who, Perm.dashboard)
    _window(start, end)
    sums = window_sums(session, who, start, end, by=_trend_column(by), team=team, queue=queue, sums=TILES)
    return _tiles(total(sums.values())), _trend(sums, by)


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


def _agreement_scope(who: Principal, team: str | None) -> Scope | None:
    """``access.calls_clause`` as a tenant and teams (None: nothing to show; the agreement rollup keeps
    no agent, so only those who see every call of their tenant or teams read it)."""
    if who.role == Role.admin:
        return Scope(None, None if team is None else (team,))
    if not can(who, Perm.view_all_calls):
        return None
    teams = who.teams
    if team is not None:
        if teams is not None and team not in teams:
            return None
        teams = (team,)
    return Scope(who.tenant, None if teams is None else tuple(teams))


def agreement(session: Session, who: Principal, *, start: datetime, end: datetime,
              team: str | None = None) -> list[dict]:
    """Per item: agreement % and Cohen's κ of auto answers vs inspectors' final answers, over the calls
    ``who`` may see (of ``team``) whose newest inspector-answered evaluation since ``start`` was last
    updated before ``end`` (scoring.agreement.window_agreements)."""
    require(who, Perm.dashboard)
    _window(start, end)
    scope = _agreement_scope(who, team)
    if scope is None:
        return []
    titles = evalview.item_titles()
    return [
        {
            "item": a.item_id,
            "title": titles.get(a.item_id, a.item_id),
            "reviewed": a.reviewed,
            "agreement": round(a.agree_pct, 1),
            "kappa": None if a.kappa is None else round(a.kappa, 2),
        }
        for a in window_agreements(session, start, end, scope=scope)
        if a.agree_pct is not None
    ]
