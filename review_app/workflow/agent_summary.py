"""The top of an agent's scorecard: score against the team, the trend, strongest and weakest items,
and feedback still waiting for the agent's acknowledgement.

Counted evaluations are the scorecard's: an inspector's review, else an auto-submitted evaluation.
The team figure compares like with like: the same tenant and team, the same window, and only
evaluations under the same rubric as the agent's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from review_app.workflow.feedback import _agent_of
from review_app.workflow.rollup import total, window_sums
from storage.access import calls_clause
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.models import utcnow
from storage.reviews import Acknowledgement, Review
from storage.users import Principal, Role

WINDOW_DAYS = 30


@dataclass(frozen=True)
class ItemRate:
    item_id: str
    answered: int
    yes_pct: float


@dataclass(frozen=True)
class AgentSummary:
    agent_id: str
    team: str | None
    score: float | None  # mean counted score, last 30 days
    team_score: float | None
    previous_score: float | None  # the 30 days before
    evaluations: int
    strongest: list[ItemRate]
    weakest: list[ItemRate]
    open_feedback: list[int]  # review IDs not yet acknowledged

    @property
    def trend(self) -> float | None:
        if self.score is None or self.previous_score is None:
            return None
        return round(self.score - self.previous_score, 1)


def _scores(session: Session, who: Principal, where: list, start: datetime, end: datetime,
            rubric: str | None) -> tuple[list[float], list[int], list[str | None]]:
    """Counted scores, their evaluation IDs and rubrics, oldest call first (the calls are an agent's
    month, a few hundred: narrow rows, the calls as a subquery instead of lists of IDs)."""
    calls_q = select(Call.call_id).where(*where, calls_clause(who), Call.started_at >= start, Call.started_at < end)
    calls = [c for (c,) in session.execute(calls_q.order_by(col(Call.started_at), col(Call.call_id)))]
    newest: dict[str, tuple[int, float | None, str | None]] = {}
    q = (select(Review.call_id, Review.evaluation_id, Review.score, Evaluation.rubric_id)
         .outerjoin(Evaluation, col(Evaluation.id) == Review.evaluation_id)
         .where(col(Review.call_id).in_(calls_q)).order_by(col(Review.id)))
    for cid, ev_id, score, rid in session.execute(q):
        newest[cid] = (ev_id, score, rid)  # ascending review IDs: the newest review wins
    autos: dict[str, tuple[int, float | None, str | None]] = {}
    q_auto = (select(Evaluation.call_id, Evaluation.id, Evaluation.total, Evaluation.rubric_id)
         .where(col(Evaluation.call_id).in_(calls_q), Evaluation.kind == EvaluationKind.auto,
                col(Evaluation.active).is_(True), col(Evaluation.auto_submitted).is_(True)))
    for cid, ev_id, ev_total, rid in session.execute(q_auto):
        autos[cid] = (ev_id or 0, ev_total, rid)
    counted: list[tuple[int, float, str | None]] = []
    for cid in calls:
        got = newest.get(cid) or autos.get(cid)
        if got is not None and got[1] is not None:
            counted.append((got[0], float(got[1]), got[2]))
    if rubric is not None:
        counted = [c for c in counted if c[2] == rubric]
    return [c[1] for c in counted], [c[0] for c in counted], [c[2] for c in counted]


def _item_rates(session: Session, ev_ids: list[int]) -> list[ItemRate]:
    """Per item, the yes share of the final (else the inspector's, else the auto) yes/no answers,
    counted in the database."""
    answer = func.coalesce(func.nullif(EvaluationItem.final_answer, ""), func.nullif(EvaluationItem.human_answer, ""),
                           func.nullif(EvaluationItem.auto_answer, ""))
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i in range(0, len(ev_ids), 500):
        q = (select(EvaluationItem.item_id, func.count(), func.sum(sa.case((answer == "yes", 1), else_=0)))
             .where(col(EvaluationItem.evaluation_id).in_(ev_ids[i:i + 500]), answer.in_(("yes", "no")))
             .group_by(EvaluationItem.item_id))
        for item, n, yes in session.execute(q):
            tally[item][0] += int(n)
            tally[item][1] += int(yes or 0)
    return sorted((ItemRate(k, n, round(100.0 * y / n, 1)) for k, (n, y) in tally.items()),
                  key=lambda r: (-r.yes_pct, r.item_id))


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def summary(session: Session, who: Principal, agent_id: str | None = None, *,
            now: datetime | None = None) -> AgentSummary:
    """The scorecard's summary for ``agent_id`` (an agent: their own)."""
    agent = _agent_of(who, agent_id)
    now = now or utcnow()
    start, before = now - timedelta(days=WINDOW_DAYS), now - timedelta(days=2 * WINDOW_DAYS)
    mine = [Call.agent_id == agent]
    team = session.exec(select(Call.team).where(*mine, calls_clause(who)).order_by(col(Call.started_at).desc())
                        .limit(1)).first()
    scores, ev_ids, rubrics = _scores(session, who, mine, start, now, None)
    rubric = rubrics[-1] if rubrics else None  # of the newest counted call's evaluation
    previous, _, _ = _scores(session, who, mine, before, start, rubric)
    team_score = None
    if team is not None:
        # the team figure reads the team's calls within the caller's own scope (an agent: tenant-wide)
        # (only the average leaves this function: an agent never sees a teammate's call); summed
        # from the hour rollup, exact (rollup.window_sums): a team's month is thousands of calls
        team_who = who if who.role != Role.agent else Principal(who.name, Role.supervisor, tenant=who.tenant, team=team)
        t = total(window_sums(session, team_who, start, now, team=team, rubric=rubric).values())
        counted = t["human_n"] + t["auto_n"]
        team_score = round((t["human_sum"] + t["auto_sum"]) / counted, 1) if counted else None
    rates = _item_rates(session, ev_ids)
    reviews = session.exec(select(Review.id).join(Call, col(Call.call_id) == Review.call_id)
                           .where(*mine, calls_clause(who)).order_by(col(Review.id))).all()
    acked = set(session.exec(select(Acknowledgement.review_id).where(col(Acknowledgement.review_id).in_(reviews))))
    return AgentSummary(
        agent_id=agent, team=team, score=_mean(scores), team_score=team_score,
        previous_score=_mean(previous), evaluations=len(scores),
        strongest=rates[:3], weakest=list(reversed(rates[-3:])) if len(rates) > 3 else list(reversed(rates)),
        open_feedback=[r for r in reviews if r is not None and r not in acked],
    )
