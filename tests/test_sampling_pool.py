"""The sampling pool read in one query (review_app/workflow/sample_pool.py) against the slow path it
replaced: the window's calls, then their auto-evaluations and answers 500 calls at a time, filtered in
Python. Same candidates, same picks for a seed, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from review_app.workflow import draw, evalview, sampling
from review_app.workflow.draw import Candidate
from review_app.workflow.sample_pool import Filters, candidates
from storage.access import calls_clause
from storage.calls import Call, CallStatus, Direction
from storage.db import session
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Assignment
from storage.transcripts import TranscriptSegment
from storage.users import Principal, Role

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = START + timedelta(days=21)
SUP_T1 = Principal("sup-t1", Role.supervisor, team="T1")
ADMIN = Principal("admin", Role.admin)
ANSWERS = ("yes", "yes", "no", "n/a", "insufficient")
CRITICAL = ("", "", "call", "section")


def _evaluation(s: Session, rng: random.Random, call_id: str, *, evaluator: str = "auto", active: bool = True,
                kind: str = "auto") -> None:
    total = None if rng.random() < 0.05 else round(rng.uniform(55, 100), 1)
    ev = Evaluation(call_id=call_id, rubric_id="r", rubric_version=1, kind=kind, evaluator=evaluator, total=total,
                    passed=None if total is None else total >= 80, pass_mark=rng.choice((80.0, 75.0)), active=active)
    s.add(ev)
    s.flush()
    for n in range(6):
        s.add(EvaluationItem(evaluation_id=ev.id or 0, item_id=f"i{n}", section_id="s", check_kind="llm",
                             critical=rng.choice(CRITICAL), points=5, auto_answer=rng.choice(ANSWERS),
                             reason="", evidence=[]))


def _world(seed: int = 3) -> list[str]:
    """Calls of three T1 agents and one T2 agent over four weeks around the window, with every case the
    pool must get right; the IDs of the calls that have words in their transcript."""
    rng = random.Random(seed)
    worded = []
    with session() as s:
        for n in range(260):
            agent = rng.choice(("A1", "A2", "A3", "B1"))
            started = START - timedelta(days=3) + timedelta(hours=rng.uniform(0, 26 * 24))
            cid = f"c{n:03d}"
            s.add(Call(call_id=cid, agent_id=None if n % 50 == 7 else agent, team="T2" if agent == "B1" else "T1",
                       queue=rng.choice(("sales", "support")), direction=rng.choice(list(Direction)),
                       started_at=started, duration_s=rng.uniform(30, 600), codec="pcm_s16le", sample_rate=8000,
                       channels=2, audio_key=f"k/{cid}", size_bytes=1, sha256="0" * 64, status=CallStatus.scored))
            s.flush()
            r = rng.random()
            if r < 0.1:
                continue  # not scored yet: no auto-evaluation
            if r < 0.2:
                _evaluation(s, rng, cid, active=False)  # superseded: its answers must not count
            _evaluation(s, rng, cid)
            if r > 0.93:
                _evaluation(s, rng, cid, evaluator="auto-v2")  # two active auto-evaluations: the newest counts
            if r > 0.85:
                _evaluation(s, rng, cid, kind="human", evaluator="insp1")  # never an auto summary
            if rng.random() < 0.15:
                worded.append(cid)
                s.add(TranscriptSegment(call_id=cid, idx=0, speaker="agent", channel=0, start_s=0, end_s=2,
                                        text=rng.choice(("please CANCEL it", "100% refund", "a_b")),
                                        avg_logprob=0, no_speech_prob=0))
    return worded


def _slow_candidates(s: Session, raw: dict[str, Any], *, start: datetime, end: datetime, scope: Any,
                     ignore_run: int | None = None) -> list[Candidate]:
    """The pool as it was read before the one-query version: every call, then its auto summary."""
    f = Filters.of(raw)
    q = sa.select(col(Call.call_id), col(Call.agent_id), col(Call.started_at)).where(
        col(Call.started_at) >= start, col(Call.started_at) < end, col(Call.agent_id).is_not(None), scope)
    for column, values in ((Call.queue, f.queues), (Call.agent_id, f.agents)):
        if values:
            q = q.where(col(column).in_(values))
    if f.direction:
        q = q.where(col(Call.direction) == f.direction)
    if f.min_duration_s is not None:
        q = q.where(col(Call.duration_s) >= f.min_duration_s)
    if f.max_duration_s is not None:
        q = q.where(col(Call.duration_s) <= f.max_duration_s)
    if f.date_from:
        q = q.where(col(Call.started_at) >= datetime.fromisoformat(f.date_from).replace(tzinfo=UTC))
    if f.date_to:
        q = q.where(col(Call.started_at) < datetime.fromisoformat(f.date_to).replace(tzinfo=UTC) + timedelta(days=1))
    assigned = sa.select(col(Assignment.call_id)).where(col(Assignment.run_id) != (ignore_run or -1))
    calls = s.execute(q.where(col(Call.call_id).not_in(assigned)).order_by(col(Call.call_id))).all()
    summaries = evalview.auto_summaries(s, [c.call_id for c in calls])
    if f.words:
        with_words = evalview.calls_with_words(s, [c.call_id for c in calls], f.words)
        calls = [c for c in calls if c.call_id in with_words]
    out = []
    for c in calls:
        sm = summaries.get(c.call_id)
        if f.score_below is not None and (sm is None or sm.score is None or sm.score >= f.score_below):
            continue
        if f.critical_fail and (sm is None or not sm.critical_fail):
            continue
        if f.insufficient_evidence and (sm is None or sm.insufficient == 0):
            continue
        out.append(Candidate(c.call_id, c.agent_id or "", c.started_at, sm.score if sm else None,
                             sm.uncertainty if sm else 0.0))
    return out


FILTERS: list[dict[str, Any]] = [
    {},
    {"queues": ["sales"]},
    {"agents": ["A1", "A3"], "direction": "inbound"},
    {"min_duration_s": 120, "max_duration_s": 400},
    {"date_from": "2026-03-05", "date_to": "2026-03-12"},
    {"score_below": 80},
    {"critical_fail": True},
    {"insufficient_evidence": True, "queues": ["support"]},
    {"words": ["cancel", "100%"]},
]


@pytest.mark.parametrize("who", [SUP_T1, ADMIN], ids=["team supervisor", "admin"])
def test_pool_and_picks_equal_the_slow_paths_for_every_filter(db_url: str, who: Principal) -> None:
    """For each filter and scope, the one-query pool has the same calls with the same scores and
    uncertainties in the same order as the slow path, so a seeded draw picks the same calls."""
    worded = _world()
    assert worded
    with session() as s:
        for raw in FILTERS:
            fast = candidates(s, raw, start=START, end=END, scope=calls_clause(who))
            slow = _slow_candidates(s, raw, start=START, end=END, scope=calls_clause(who))
            assert fast == slow, raw
            assert fast or raw.get("words"), raw  # every filter but the rarest leaves calls to compare
            for mode, kw in (("per_agent", {"count": 2, "period_days": 7}), ("percent", {"percent": 10, "minimum": 3})):
                picks = draw.select_calls(fast, mode=mode, seed=11, **kw)
                assert picks == draw.select_calls(slow, mode=mode, seed=11, **kw)
        everyone = candidates(s, {}, start=START, end=END, scope=calls_clause(who))
        assert {c.agent_id for c in everyone} == ({"A1", "A2", "A3"} if who is SUP_T1 else {"A1", "A2", "A3", "B1"})
        assert any(c.uncertainty > 0 for c in everyone) and any(c.score is None for c in everyone)


def test_pool_counts_the_newest_active_auto_evaluation_only(db_url: str) -> None:
    """A superseded evaluation's and a human evaluation's answers never count; of two active ones
    the newest does."""
    with session() as s:
        s.add(Call(call_id="x1", agent_id="A1", team="T1", started_at=START + timedelta(hours=1), codec="pcm",
                   sample_rate=8000, channels=2, audio_key="k/x1", size_bytes=1, sha256="0" * 64))
        s.flush()
        for evaluator, active, kind, answer in (("auto", False, "auto", "insufficient"), ("auto", True, "auto", "yes"),
                                                 ("insp1", True, "human", "insufficient"),
                                                 ("auto-v2", True, "auto", "no")):
            ev = Evaluation(call_id="x1", rubric_id="r", rubric_version=1, kind=kind, evaluator=evaluator,
                            total=90.0, passed=True, active=active)
            s.add(ev)
            s.flush()
            s.add(EvaluationItem(evaluation_id=ev.id or 0, item_id="i", section_id="s", check_kind="llm",
                                 critical="call", points=5, auto_answer=answer, reason="", evidence=[]))
    with session() as s:
        (c,) = candidates(s, {}, start=START, end=END, scope=None)
        assert (c.score, c.uncertainty) == (90.0, 1.0)  # auto-v2's critical "no"; no insufficient answer
        assert candidates(s, {"insufficient_evidence": True}, start=START, end=END, scope=None) == []
        assert [x.call_id for x in candidates(s, {"critical_fail": True}, start=START, end=END)] == ["x1"]


def test_run_keeps_quotas_replays_from_its_seed_and_skips_assigned_calls(db_url: str) -> None:
    """A per-agent weekly plan: each agent-week gives min(2, its calls); the replay from the stored seed
    picks the same; a second run takes none of the first run's calls; another team's calls never come."""
    _world()
    with session() as s:
        plan = sampling.create_plan(s, SUP_T1, name="two a week", mode="per_agent", count=2, period_days=7,
                                    inspectors=["insp1", "insp2"], daily_cap=500, seed=99)
        assert plan.id is not None
        pool = candidates(s, {}, start=START, end=END, scope=calls_clause(SUP_T1))
        first = sampling.run_plan(s, SUP_T1, plan.id, start=START, end=END, first_day=END.date())
        assert first.id is not None
        got = sampling.run_assignments(s, first.id)
        replay = sampling.replay_run(s, SUP_T1, first.id)
        second = sampling.run_plan(s, SUP_T1, plan.id, start=START, end=END, first_day=END.date())
        assert second.id is not None
        again = sampling.run_assignments(s, second.id)
    week = {c.call_id: (c.agent_id, draw._bucket(c.started_at, 7)) for c in pool}
    sizes: dict[tuple[str, str], int] = {}
    for key in week.values():
        sizes[key] = sizes.get(key, 0) + 1
    picked: dict[tuple[str, str], int] = {}
    for a in got:
        picked[week[a.call_id]] = picked.get(week[a.call_id], 0) + 1
    assert picked == {k: min(2, n) for k, n in sizes.items()}
    assert [(a.call_id, a.reason) for a in got] == [(p.call_id, p.reason) for p in replay]
    assert any(a.reason.startswith("least sure") for a in got) and all(a.state == "open" for a in got)
    assert again and not {a.call_id for a in again} & {a.call_id for a in got}
    assert {c.agent_id for c in pool} == {"A1", "A2", "A3"}


def test_pool_uncertainty_is_the_same_float_as_evalview_computes(db_url: str) -> None:
    """On PostgreSQL the pool's uncertainty is computed in the query: for scores on, near and far from
    the pass mark, none, critical fails and insufficient answers it is the very float (same repr) that
    evalview.auto_uncertainty gives, so ties and the least-sure order are those of the draw before."""
    cases = [(80.0, 80.0, 0, ""), (70.0, 80.0, 0, ""), (69.9, 80.0, 1, "call"), (83.3, 80.0, 3, ""),
             (None, 80.0, 2, "section"), (75.1, 75.0, 0, "call"), (100.0, 75.0, 4, ""), (77.7, 80.0, 0, "call")]
    expected = {}
    with session() as s:
        for n, (total, mark, insufficient, critical) in enumerate(cases):
            cid = f"u{n}"
            s.add(Call(call_id=cid, agent_id="A1", team="T1", started_at=START + timedelta(hours=n), codec="pcm",
                       sample_rate=8000, channels=2, audio_key=f"k/{cid}", size_bytes=1, sha256="0" * 64))
            s.flush()
            ev = Evaluation(call_id=cid, rubric_id="r", rubric_version=1, kind=EvaluationKind.auto, evaluator="auto",
                            total=total, passed=None, pass_mark=mark, active=True)
            s.add(ev)
            s.flush()
            answers = ["insufficient"] * insufficient + (["no"] if critical else []) + ["yes"]
            for k, answer in enumerate(answers):
                s.add(EvaluationItem(evaluation_id=ev.id or 0, item_id=f"i{k}", section_id="s", check_kind="llm",
                                     critical=critical if answer == "no" else "", points=5, auto_answer=answer,
                                     reason="", evidence=[]))
            expected[cid] = evalview.auto_uncertainty(total, mark, insufficient=insufficient,
                                                      critical_fail=bool(critical))
    with session() as s:
        got = {c.call_id: c.uncertainty for c in candidates(s, {}, start=START, end=END)}
    assert {k: repr(v) for k, v in got.items()} == {k: repr(v) for k, v in expected.items()}
    assert len(set(got.values())) > 5
