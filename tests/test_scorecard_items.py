"""The scorecard's item rates from ``day_agent_items`` equal those computed from the raw answers (SQLite and
PostgreSQL), for windows ending at a UTC midnight, a Shanghai midnight and an odd minute, for an agent, a
tenant's supervisor and a team's supervisor: never refreshed, refreshed, with a live tail (new calls, a
late review, an answer edited, a review without a score) not yet refreshed, and refreshed again (each
answer counted once)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import rollup
from review_app.workflow.agent_summary import _item_rates, summary
from review_app.workflow.rollup import touched
from storage import db as dbmod
from storage.agent_items import day_agent_items
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Review, Verdict
from storage.users import Principal, Role
from tests.test_rollups import T0, TEAM_SUP, _call, _review, _world

SUP = Principal("sup", Role.supervisor)
ENDS = (T0 + timedelta(days=20),  # a UTC midnight
        T0 + timedelta(days=20) - timedelta(hours=8),  # a Shanghai (+08:00) midnight
        T0 + timedelta(days=20, hours=5, minutes=17))  # inside an hour


def _visible(who: Principal, c: Call) -> bool:
    if who.role == Role.agent:
        return c.agent_id == who.agent_id
    return who.team is None or c.team == who.team


def _counted(s: Session, c: Call) -> int | None:
    """The scorecard's counted evaluation of a call: the newest review's when it has a score, else (no
    review) the active auto-submitted one with a total."""
    rv = s.exec(select(Review).where(Review.call_id == c.call_id).order_by(col(Review.id).desc())).first()
    if rv is not None:
        return rv.evaluation_id if rv.score is not None else None
    auto = s.exec(select(Evaluation).where(Evaluation.call_id == c.call_id, Evaluation.kind == EvaluationKind.auto,
                                           col(Evaluation.active).is_(True),
                                           col(Evaluation.auto_submitted).is_(True))).first()
    return auto.id if auto is not None and auto.total is not None else None


def _raw_rates(s: Session, who: Principal, agent: str, start: datetime, end: datetime) -> dict[str, tuple]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in s.exec(select(Call).where(Call.agent_id == agent, col(Call.started_at) >= start,
                                       col(Call.started_at) < end)):
        ev_id = _counted(s, c) if _visible(who, c) else None
        for it in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev_id)):
            answer = it.final_answer or it.human_answer or it.auto_answer
            if answer in ("yes", "no"):
                tally[it.item_id][0] += 1
                tally[it.item_id][1] += answer == "yes"
    return {k: (n, round(100.0 * y / n, 1)) for k, (n, y) in tally.items()}


def _assert_rates_equal_raw(s: Session) -> None:
    checked = 0
    for end in ENDS:
        for agent in ("a0", "a1", "a5"):
            for who in (Principal(f"agent-{agent}", Role.agent, agent_id=agent), SUP, TEAM_SUP):
                want = _raw_rates(s, who, agent, end - timedelta(days=30), end)
                got = _item_rates(s, who, agent, end - timedelta(days=30), end,
                                  touched(s, end - timedelta(days=30), end))
                assert {r.item_id: (r.answered, r.yes_pct) for r in got} == want
                assert [r.yes_pct for r in got] == sorted((r.yes_pct for r in got), reverse=True)
                if who.role == Role.agent:  # what the page shows: the best three and the worst three
                    page = summary(s, who, agent, now=end)
                    assert {r.item_id: (r.answered, r.yes_pct) for r in page.strongest + page.weakest} == want
                checked += bool(want)
    assert checked > 20


def _stored_equal_raw(s: Session) -> None:
    """Every stored row equals the raw count of its day, agent and item: nothing counted twice."""
    t = day_agent_items.c
    stored = {(d, a, i): (n, y) for d, a, i, n, y in s.execute(sa.select(t.day, t.agent_id, t.item_id, t.answered,
                                                                         t.yes))}
    raw: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in s.exec(select(Call)):
        ev_id = _counted(s, c)
        for it in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev_id)):
            answer = it.final_answer or it.human_answer or it.auto_answer
            if answer in ("yes", "no"):
                k = (f"{c.started_at.astimezone(UTC):%Y-%m-%d}", c.agent_id or "", it.item_id)
                raw[k][0] += 1
                raw[k][1] += answer == "yes"
    assert stored == {k: (n, y) for k, (n, y) in raw.items()} and stored


def test_scorecard_item_rates_from_the_agent_day_rollup_equal_the_raw_answers(db_url: str) -> None:
    r = random.Random(21)
    with dbmod.session() as s:
        ids = _world(s, r, 160, T0 - timedelta(days=25), 45)
    with dbmod.session() as s:  # never refreshed: every day from the raw rows
        _assert_rates_equal_raw(s)
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        _stored_equal_raw(s)
        _assert_rates_equal_raw(s)
    # the live tail, not refreshed yet: new calls, a late review, an answer edited (as the evaluation
    # writers do: the evaluation's updated_at moves), a newest review without a score
    with dbmod.session() as s:
        for i in range(12):
            cid = _call(s, 500 + i, T0 + timedelta(days=19, minutes=97 * i), r)
            _review(s, cid, r)
        _review(s, ids[3], r)
        item = s.exec(select(EvaluationItem).join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
                      .join(Call, col(Call.call_id) == Evaluation.call_id)
                      .where(Evaluation.kind == EvaluationKind.auto, col(Evaluation.active).is_(True),
                             col(Evaluation.auto_submitted).is_(True), Call.agent_id == "a0",
                             col(Call.started_at) >= T0 + timedelta(days=2))
                      .order_by(col(Call.started_at))).first()
        assert item is not None
        flipped = "no" if (item.final_answer or item.auto_answer) == "yes" else "yes"
        s.execute(sa.update(EvaluationItem).where(col(EvaluationItem.id) == item.id).values(final_answer=flipped))
        s.execute(sa.update(Evaluation).where(col(Evaluation.id) == item.evaluation_id)
                  .values(updated_at=datetime.now(UTC)))
        ev = s.exec(select(Evaluation).where(Evaluation.kind == EvaluationKind.auto, Evaluation.call_id != ids[3])
                    .order_by(col(Evaluation.id))).first()
        assert ev is not None
        s.add(Review(call_id=ev.call_id, evaluation_id=ev.id or 0, inspector="qa", score=None, verdict=Verdict.passed))
    with dbmod.session() as s:
        _assert_rates_equal_raw(s)
    for _ in range(2):
        with dbmod.session() as s:
            rollup.refresh(s)
        with dbmod.session() as s:
            _stored_equal_raw(s)
            _assert_rates_equal_raw(s)
