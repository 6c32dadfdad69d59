"""The agent scorecard's figures equal those computed from the raw rows the way the scorecard computed them
before (SQLite and PostgreSQL): the summary (scores, previous period, item rates), the auto-submitted rows,
and the score trend from the review-day rollup before any refresh, after one, with new reviews, a resolved
dispute and a call moved to another team not yet refreshed, and after refreshing again (each review once)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import feedback, review_days
from review_app.workflow.agent_summary import summary
from storage import db as dbmod
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.review_days import ReviewDay
from storage.reviews import Dispute, DisputeState, Review
from storage.users import Principal, Role
from tests.test_rollups import T0, _review, _world

NOW = T0 + timedelta(days=20, minutes=17)
SUP = Principal("sup", Role.supervisor)


def _raw_trend(s: Session, who: Principal, agent: str) -> list[dict]:
    """feedback.trend as it was: the mean of every scored review per day, straight from the reviews."""
    scope = (lambda c: c.tenant == who.tenant) if who.role == Role.agent else (lambda c: True)
    team = next((c.team for c in s.exec(select(Call).where(Call.agent_id == agent)) if c.team), None)
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rv, c in s.exec(select(Review, Call).join(Call, col(Call.call_id) == Review.call_id)):
        if rv.score is None or not scope(c):
            continue
        day = f"{rv.created_at.astimezone(UTC):%Y-%m-%d}"
        if c.agent_id == agent:
            by[("agent", day)].append(rv.score)
        if team and c.team == team:
            by[("team", day)].append(rv.score)
    return [{"day": d, "series": series, "score": round(sum(v) / len(v), 1)}
            for series in ("agent", "team") for (sr, d), v in sorted(by.items()) if sr == series]


def _raw_rates(s: Session, agent: str, start: datetime, end: datetime) -> tuple[list[float], dict[str, tuple]]:
    """The agent's counted scores (newest review, else the active auto-submitted evaluation) and the yes
    share per item of their answers (final, else the inspector's, else the auto one)."""
    scores, tally = [], defaultdict(lambda: [0, 0])
    for c in s.exec(select(Call).where(Call.agent_id == agent, col(Call.started_at) >= start,
                                       col(Call.started_at) < end)):
        rv = s.exec(select(Review).where(Review.call_id == c.call_id).order_by(col(Review.id).desc())).first()
        auto = s.exec(select(Evaluation).where(Evaluation.call_id == c.call_id, Evaluation.kind == EvaluationKind.auto,
                                               col(Evaluation.active).is_(True),
                                               col(Evaluation.auto_submitted).is_(True))).first()
        ev_id, score = (rv.evaluation_id, rv.score) if rv else ((auto.id, auto.total) if auto else (None, None))
        if ev_id is None or score is None:
            continue
        scores.append(score)
        for it in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev_id)):
            answer = it.final_answer or it.human_answer or it.auto_answer
            if answer in ("yes", "no"):
                tally[it.item_id][0] += 1
                tally[it.item_id][1] += answer == "yes"
    return scores, {k: (n, round(100.0 * y / n, 1)) for k, (n, y) in tally.items()}


def _assert_trend_equals_raw(s: Session) -> None:
    for agent in ("a0", "a1", "a5"):
        for who in (Principal(f"agent-{agent}", Role.agent, agent_id=agent), SUP):
            got = feedback.trend(s, who, agent)
            assert got == _raw_trend(s, who, agent)
            assert got


def test_scorecard_summary_and_auto_rows_equal_the_raw_computation(db_url: str) -> None:
    with dbmod.session() as s:
        _world(s, random.Random(7), 120, T0 - timedelta(days=25), 45)
    with dbmod.session() as s:
        for agent in ("a0", "a1", "a5"):
            who = Principal(f"agent-{agent}", Role.agent, agent_id=agent)
            got = summary(s, who, agent, now=NOW)
            scores, rates = _raw_rates(s, agent, NOW - timedelta(days=30), NOW)
            previous, _ = _raw_rates(s, agent, NOW - timedelta(days=60), NOW - timedelta(days=30))
            assert got.evaluations == len(scores) > 0
            assert got.score == round(sum(scores) / len(scores), 1)
            assert got.previous_score == (round(sum(previous) / len(previous), 1) if previous else None)
            assert {r.item_id: (r.answered, r.yes_pct) for r in got.strongest + got.weakest} == {
                r.item_id: rates[r.item_id] for r in got.strongest + got.weakest}
            assert len({r.item_id for r in got.strongest + got.weakest}) == min(len(rates), 6)
            rows = feedback.auto_rows(s, who, agent, limit=200)
            reviewed = set(s.exec(select(Review.call_id)))
            want = [ev for ev, c in s.exec(select(Evaluation, Call).join(Call, col(Call.call_id) == Evaluation.call_id))
                    if c.agent_id == agent and ev.kind == EvaluationKind.auto and ev.active and ev.auto_submitted
                    and ev.call_id not in reviewed]
            assert sorted(r.evaluation_id for r in rows) == sorted(ev.id for ev in want) and rows
            # a short list: the rows of the agent's newest calls (by start), read in index order
            start_of = {c.call_id: c.started_at for c in s.exec(select(Call).where(Call.agent_id == agent))}
            newest = sorted(want, key=lambda ev: (start_of[ev.call_id], ev.id or 0), reverse=True)[:3]
            assert [r.evaluation_id for r in feedback.auto_rows(s, who, agent, limit=3)] == [ev.id for ev in newest]


def test_score_trend_from_the_review_day_rollup_equals_the_raw_reviews_before_and_after_refreshes(
        db_url: str) -> None:
    r = random.Random(8)
    with dbmod.session() as s:
        ids = _world(s, r, 120, T0, 20)
        s.execute(sa.update(Review).values(created_at=sa.func.coalesce(
            select(Call.started_at).where(Call.call_id == Review.call_id).scalar_subquery(), Review.created_at)))
    with dbmod.session() as s:  # never refreshed: every day from the raw rows
        _assert_trend_equals_raw(s)
    with dbmod.session() as s:
        assert review_days.refresh(s).rows > 0
    with dbmod.session() as s:
        _assert_trend_equals_raw(s)
    # not refreshed yet: a new review, a dispute resolved with a new score, a call moved to another team
    with dbmod.session() as s:
        _review(s, ids[2], r)
        old = s.exec(select(Review).where(col(Review.score).is_not(None)).order_by(col(Review.id))).first()
        assert old is not None and old.id is not None
        s.add(Dispute(review_id=old.id, opened_by="agent", reason="r", state=DisputeState.changed,
                      resolved_at=datetime.now(UTC), score_before=old.score, score_after=13.0))
        s.execute(sa.update(Review).where(col(Review.id) == old.id).values(score=13.0))
        moved = s.exec(select(Review.call_id).join(Call, col(Call.call_id) == Review.call_id)
                       .where(Call.team == "t1")).first()
        s.execute(sa.update(Call).where(Call.call_id == moved).values(team="t0", updated_at=datetime.now(UTC)))
    with dbmod.session() as s:
        _assert_trend_equals_raw(s)
    for _ in range(2):
        with dbmod.session() as s:
            review_days.refresh(s)
        with dbmod.session() as s:
            _assert_trend_equals_raw(s)
            assert sum(d.scored for d in s.exec(select(ReviewDay))) == len(
                s.exec(select(Review).where(col(Review.score).is_not(None))).all())
