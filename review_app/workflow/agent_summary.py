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

from sqlmodel import Session, col, select

from review_app.workflow.feedback import _agent_of
from review_app.workflow.kpi_calls import counted_evaluations
from review_app.workflow.rollup import total, window_sums
from storage.access import calls_clause
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem
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
            rubric: str | None) -> tuple[list[float], list[int]]:
    calls = [c for (c,) in session.execute(select(Call.call_id).where(
        *where, calls_clause(who), Call.started_at >= start, Call.started_at < end))]
    reviews, autos = counted_evaluations(session, calls)
    counted: list[tuple[int, float]] = []
    for cid in calls:
        r, a = reviews.get(cid), autos.get(cid)
        ev_id = r.evaluation_id if r else (a.id if a else None)
        score = r.score if r else (a.total if a else None)
        if ev_id is not None and score is not None:
            counted.append((ev_id, float(score)))
    if rubric is not None:
        # one query per 500 evaluations, not one per call: a team's month is thousands of calls
        ids = [ev_id for ev_id, _ in counted]
        rubric_of: dict[int | None, str] = {}
        for i in range(0, len(ids), 500):
            q = select(Evaluation.id, Evaluation.rubric_id).where(col(Evaluation.id).in_(ids[i:i + 500]))
            rubric_of.update((eid, rid) for eid, rid in session.exec(q))
        counted = [(ev_id, score) for ev_id, score in counted if rubric_of.get(ev_id) == rubric]
    return [score for _, score in counted], [ev_id for ev_id, _ in counted]


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def summary(session: Session, who: Principal, agent_id: str | None = None, *,
            now: datetime | None = None) -> AgentSummary:
    """The scorecard's summary for ``agent_id`` (an agent: their own)."""
    agent = _agent_of(who, agent_id)
    now = now or utcnow()
    start, before = now - timedelta(days=WINDOW_DAYS), now - timedelta(days=2 * WINDOW_DAYS)
    mine = [Call.agent_id == agent]
    team = session.exec(select(Call.team).where(*mine, calls_clause(who)).order_by(col(Call.started_at).desc())).first()
    scores, ev_ids = _scores(session, who, mine, start, now, None)
    rubric = None
    if ev_ids and (ev := session.get(Evaluation, ev_ids[-1])) is not None:
        rubric = ev.rubric_id
    previous, _ = _scores(session, who, mine, before, start, rubric)
    team_score = None
    if team is not None:
        # the team figure reads the team's calls within the caller's own scope (an agent: tenant-wide)
        # (only the average leaves this function: an agent never sees a teammate's call); summed
        # from the hour rollup, exact (rollup.window_sums): a team's month is thousands of calls
        team_who = who if who.role != Role.agent else Principal(who.name, Role.supervisor, tenant=who.tenant, team=team)
        t = total(window_sums(session, team_who, start, now, team=team, rubric=rubric).values())
        counted = t["human_n"] + t["auto_n"]
        team_score = round((t["human_sum"] + t["auto_sum"]) / counted, 1) if counted else None
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i in range(0, len(ev_ids), 500):
        for it in session.exec(select(EvaluationItem).where(col(EvaluationItem.evaluation_id).in_(ev_ids[i:i + 500]))):
            answer = it.final_answer or it.human_answer or it.auto_answer
            if answer in ("yes", "no"):
                tally[it.item_id][0] += 1
                tally[it.item_id][1] += answer == "yes"
    rates = sorted((ItemRate(k, n, round(100.0 * y / n, 1)) for k, (n, y) in tally.items()),
                   key=lambda r: (-r.yes_pct, r.item_id))
    reviews = session.exec(select(Review.id).join(Call, col(Call.call_id) == Review.call_id)
                           .where(*mine, calls_clause(who)).order_by(col(Review.id))).all()
    acked = set(session.exec(select(Acknowledgement.review_id).where(col(Acknowledgement.review_id).in_(reviews))))
    return AgentSummary(
        agent_id=agent, team=team, score=_mean(scores), team_score=team_score,
        previous_score=_mean(previous), evaluations=len(scores),
        strongest=rates[:3], weakest=list(reversed(rates[-3:])) if len(rates) > 3 else list(reversed(rates)),
        open_feedback=[r for r in reviews if r is not None and r not in acked],
    )
