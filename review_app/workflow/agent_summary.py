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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from review_app.workflow.feedback import _agent_of
from review_app.workflow.rollup import scope, total, touched, window_sums
from storage import agent_items, windows
from storage.access import Perm, calls_clause, can
from storage.agent_items import day_agent_items
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationKind
from storage.models import utcnow
from storage.reviews import Acknowledgement, Review
from storage.users import Principal, Role

WINDOW_DAYS = 30
SCORES = ("human_n", "human_sum", "auto_n", "auto_sum")  # the team score's columns (ix_hour_stats_team_scores)


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


Counted = tuple[datetime, int, float, str | None]  # call start, evaluation ID, score, rubric


def _counted(session: Session, who: Principal, where: list, start: datetime, end: datetime) -> list[Counted]:
    """The counted evaluations (newest review, else the active auto-submitted evaluation) of the calls
    that started in [start, end), oldest call first: one query with outer joins (an agent's two
    months are a few hundred calls), narrow rows."""
    by_review, auto = aliased(Evaluation), aliased(Evaluation)
    q = (sa.select(col(Call.call_id), col(Call.started_at), col(Review.evaluation_id), col(Review.score),
                   col(by_review.rubric_id), col(auto.id), col(auto.total), col(auto.rubric_id))
         .select_from(Call)
         .outerjoin(Review, col(Review.call_id) == col(Call.call_id))
         .outerjoin(by_review, col(by_review.id) == col(Review.evaluation_id))
         # "= true", not "IS true": PostgreSQL matches it to ix_evaluations_auto_submitted's predicate
         .outerjoin(auto, sa.and_(col(auto.call_id) == col(Call.call_id), col(auto.kind) == EvaluationKind.auto,
                                  col(auto.active) == sa.true(), col(auto.auto_submitted) == sa.true()))
         .where(*where, calls_clause(who), col(Call.started_at) >= start, col(Call.started_at) < end)
         .order_by(col(Call.started_at), col(Call.call_id), col(Review.id)))
    calls: dict[str, list[Any]] = {}
    for cid, started, ev_id, score, rid, auto_id, auto_total, auto_rid in session.execute(q):
        got = calls.setdefault(cid, [started, None, None])
        if ev_id is not None:
            got[1] = (ev_id, score, rid)  # ascending review IDs: the newest review wins
        if auto_id is not None:
            got[2] = (auto_id, auto_total, auto_rid)
    out: list[Counted] = []
    for started, review, auto_ev in calls.values():
        got = review or auto_ev
        if got is not None and got[1] is not None:
            out.append((started, got[0], float(got[1]), got[2]))
    return out


def _gaps(start: datetime, end: datetime, taken: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """[start, end) without the sorted, disjoint ``taken`` ranges inside it."""
    out, at = [], start
    for a, b in taken:
        if at < a:
            out.append((at, a))
        at = b
    return out + ([(at, end)] if at < end else [])


def _item_rates(session: Session, who: Principal, agent: str, start: datetime, end: datetime,
                seen: set[str] | None) -> list[ItemRate]:
    """Per item, the yes share of the final (else the inspector's, else the auto) yes/no answers of the
    counted evaluations of ``agent``'s calls in [start, end) that ``who`` may see: whole UTC days that no
    row touched since the last refresh from ``day_agent_items`` (storage/agent_items.py), the rest
    (the window's part days, touched days) from the raw rows by the query that fills those rows. ``seen``:
    ``rollup.touched`` of the window."""
    rolled = who.role == Role.admin or can(who, Perm.view_all_calls) or (who.role == Role.agent and who.agent_id)
    cut = windows.split(start, end, seen if rolled else None, days=True)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    got: list[Any] = []
    if cut.days:
        t = day_agent_items.c
        got += session.execute(sa.select(t.item_id, func.sum(t.answered), func.sum(t.yes))
                               .where(t.agent_id == agent, windows.day_clause(t.day, cut.days),
                                      *scope(who, day_agent_items))
                               .group_by(t.item_id))
    for a, b in _gaps(start, end, cut.days):
        where = [col(Call.agent_id) == agent, calls_clause(who), col(Call.started_at) >= a, col(Call.started_at) < b]
        got += [(item, n, yes) for *_, item, n, yes in session.execute(agent_items.counts_query(session, where))]
    for item, n, yes in got:
        tally[item][0] += int(n or 0)
        tally[item][1] += int(yes or 0)
    return sorted((ItemRate(k, n, round(100.0 * y / n, 1)) for k, (n, y) in tally.items() if n),
                  key=lambda r: (-r.yes_pct, r.item_id))


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def summary(session: Session, who: Principal, agent_id: str | None = None, *,
            now: datetime | None = None) -> AgentSummary:
    """The scorecard's summary for ``agent_id`` (an agent: their own)."""
    agent = _agent_of(who, agent_id)
    now = now or utcnow()
    start, before = now - timedelta(days=WINDOW_DAYS), now - timedelta(days=2 * WINDOW_DAYS)
    mine = [col(Call.agent_id) == agent]
    team = session.exec(select(Call.team).where(*mine, calls_clause(who)).order_by(col(Call.started_at).desc())
                        .limit(1)).first()
    both = _counted(session, who, mine, before, now)
    current = [c for c in both if c[0] >= start]
    scores = [c[2] for c in current]
    rubric = current[-1][3] if current else None  # of the newest counted call's evaluation
    previous = [c[2] for c in both if c[0] < start and (rubric is None or c[3] == rubric)]
    seen = touched(session, start, now)  # one look-up for the team score and the item rates
    team_score = None
    if team is not None:
        # the team figure reads the team's calls within the caller's own scope (an agent: tenant-wide)
        # (only the average leaves this function: an agent never sees a teammate's call); summed
        # from the hour rollup, exact (rollup.window_sums): a team's month is thousands of calls
        team_who = who if who.role != Role.agent else Principal(who.name, Role.supervisor, tenant=who.tenant, team=team)
        t = total(window_sums(session, team_who, start, now, team=team, rubric=rubric, sums=SCORES,
                              known=seen).values())
        counted = t["human_n"] + t["auto_n"]
        team_score = round((t["human_sum"] + t["auto_sum"]) / counted, 1) if counted else None
    rates = _item_rates(session, who, agent, start, now, seen)
    acks = (sa.select(col(Review.id), col(Acknowledgement.id)).join(Call, col(Call.call_id) == col(Review.call_id))
            .outerjoin(Acknowledgement, col(Acknowledgement.review_id) == col(Review.id))
            .where(*mine, calls_clause(who)).order_by(col(Review.id)))
    rows = list(session.execute(acks))
    acked = {r for r, ack in rows if ack is not None}
    reviews = list(dict.fromkeys(r for r, _ in rows))
    return AgentSummary(
        agent_id=agent, team=team, score=_mean(scores), team_score=team_score,
        previous_score=_mean(previous), evaluations=len(scores),
        strongest=rates[:3], weakest=list(reversed(rates[-3:])) if len(rates) > 3 else list(reversed(rates)),
        open_feedback=[r for r in reviews if r is not None and r not in acked],
    )
