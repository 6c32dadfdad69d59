"""Review workflow rules: users, access, reviews, disputes, calibration, sampling (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from review_app.workflow import calibration, draw, feedback, sampling
from review_app.workflow.evalview import HumanAnswers, agent_scores
from review_app.workflow.inspection import open_call, submit_review
from storage.access import CallNotVisible, recording, search_calls, visible_call
from storage.db import session
from storage.errors import Conflict, Forbidden, InvalidInput
from storage.evaluations import Evaluation, EvaluationItem
from storage.models import AuditEvent
from storage.reviews import Review
from storage.users import BadCredentials, Role, add_user, authenticate
from tests import review_world
from tests.review_world import DAY0, PASSWORD


@pytest.fixture
def world(db_url: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    return review_world.build()


def test_password_is_hashed_and_checked(db_url: str) -> None:
    """A user signs in with the right password only; the stored hash is not the password."""
    with session() as s:
        add_user(s, "ann", role=Role.inspector, password=PASSWORD)
    with session() as s:
        assert authenticate(s, "ann", PASSWORD).role == Role.inspector
        with pytest.raises(BadCredentials):
            authenticate(s, "ann", PASSWORD + "x")
        from storage.users import User

        stored = s.exec(select(User)).one().password_hash
    assert PASSWORD not in stored and stored.startswith("$argon2")


def test_bad_user_input_is_refused(db_url: str) -> None:
    """An agent without an agent ID, a short password and a duplicate name are refused."""
    with session() as s:
        with pytest.raises(InvalidInput, match="agent-id"):
            add_user(s, "bob", role=Role.agent, password=PASSWORD)
        with pytest.raises(InvalidInput, match="at least"):
            add_user(s, "bob", role=Role.inspector, password="short")
        add_user(s, "bob", role=Role.inspector, password=PASSWORD)
        with pytest.raises(Conflict):
            add_user(s, "bob", role=Role.inspector, password=PASSWORD)


def test_agent_sees_only_own_calls(world: review_world.World) -> None:
    """An agent opens, finds and plays only their own calls; others' look the same as missing ones."""
    agent1 = world.users["agent1"]
    with session() as s:
        assert visible_call(s, agent1, "a1-call-0").agent_id == "A1"
        for cid in ("a2-call-0", "no-such-call"):
            with pytest.raises(CallNotVisible):
                visible_call(s, agent1, cid)
        assert {c.agent_id for c in search_calls(s, agent1, "")} == {"A1"}
        assert search_calls(s, agent1, "a2") == []
        assert len(search_calls(s, world.users["insp1"], "")) == 4
    with pytest.raises(Forbidden):
        recording(agent1, "a2-call-0", source="test")
    with pytest.raises(Forbidden):
        recording(agent1, "a1-call-0", source="test", download=True)
    with session() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action.in_(["play", "download"]))).all() == []


def test_every_play_and_download_is_audited(world: review_world.World) -> None:
    """Playing and downloading go through the retrieval path and each writes an audit row."""
    rec = recording(world.users["agent1"], "a1-call-0", source="test")
    assert rec.data[:4] == b"RIFF"
    recording(world.users["arch"], "a2-call-1", source="test", download=True)
    with session() as s:
        rows = s.exec(
            select(AuditEvent).where(AuditEvent.action.in_(["play", "download"])).order_by(AuditEvent.id)
        ).all()
    assert [(r.actor, r.action, r.call_id) for r in rows] == [
        ("agent1", "play", "a1-call-0"),
        ("arch", "download", "a2-call-1"),
    ]


def test_inspector_review_keeps_auto_human_and_final(world: review_world.World) -> None:
    """A submitted review stores the auto answer, the inspector's override and the final answer apart."""
    insp = world.users["insp1"]
    with session() as s:
        view = open_call(s, insp, "a1-call-0")
        auto_greeting = next(i for i in view.items if i.item_id == "greeting").auto_answer
        assert auto_greeting == "yes"
        human = HumanAnswers(
            answers={"greeting": "no", "resolved": "yes"},
            comments={"greeting": "too fast"},
            comment="ok overall",
        )
        review = submit_review(s, insp, "a1-call-0", human=human, verdict="retraining")
    with session() as s:
        ev = s.get(Evaluation, review.evaluation_id)
        assert ev is not None and ev.kind == "human" and ev.evaluator == "insp1"
        items = {
            i.item_id: i for i in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id))
        }
        g = items["greeting"]
        assert (g.auto_answer, g.human_answer, g.final_answer, g.comment) == ("yes", "no", "no", "too fast")
        assert g.earned == 0 and g.possible == g.points  # the final answer, not the auto one, is scored
        f = items["farewell"]
        assert (f.human_answer, f.final_answer) == (None, f.auto_answer)
        assert items["resolved"].final_answer == "yes"
        stored = s.get(Review, review.id)
        assert stored is not None and stored.verdict == "retraining" and stored.score == ev.total


def test_agent_cannot_submit_a_review(world: review_world.World) -> None:
    """Only reviewer roles can submit; an unknown item is refused and nothing is stored."""
    with session() as s, pytest.raises(Forbidden):
        submit_review(s, world.users["agent1"], "a1-call-0", human=HumanAnswers(), verdict="pass")
    with pytest.raises(InvalidInput), session() as s:
        submit_review(
            s, world.users["insp1"], "a1-call-0", human=HumanAnswers(answers={"nope": "yes"}), verdict="pass"
        )
    with session() as s:
        assert s.exec(select(Review)).all() == []


def _review(world: review_world.World, call_id: str = "a1-call-0") -> int:
    with session() as s:
        r = submit_review(s, world.users["insp1"], call_id, human=HumanAnswers(), verdict="fail")
        assert r.id is not None
        return r.id


def test_dispute_reaches_a_supervisor_and_keeps_history(world: review_world.World) -> None:
    """An agent's dispute lands with the supervisor; changing the score keeps before, after and history."""
    rid = _review(world)
    agent1, sup = world.users["agent1"], world.users["sup"]
    with session() as s:
        with pytest.raises(Forbidden):
            feedback.open_dispute(s, world.users["agent2"], rid, reason="not mine")
        d = feedback.open_dispute(s, agent1, rid, reason="I did greet")
    with session() as s:
        waiting = feedback.open_disputes(s, sup)
        assert [(x.dispute.id, x.review_id) for x in waiting] == [(d.id, rid)]
        with pytest.raises(Forbidden):
            feedback.open_disputes(s, agent1)
        feedback.resolve_dispute(s, sup, d.id, new_score=95.0, comment="greeting was there")
    with session() as s, pytest.raises(Conflict):
        feedback.resolve_dispute(s, sup, d.id, comment="again")
    with session() as s:
        assert s.get(Review, rid).score == 95.0
        events = feedback.history(s, agent1, rid)
        assert [e.action for e in events] == ["opened", "changed"]
        assert events[1].detail["score_after"] == 95.0
        assert feedback.scorecard(s, agent1)[0].dispute == "changed"


def test_dispute_window_closes(world: review_world.World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review older than the dispute window cannot be disputed."""
    rid = _review(world)
    with session() as s:
        s.get(Review, rid).created_at = DAY0 - timedelta(days=30)
    with session() as s, pytest.raises(feedback.DisputeWindowClosed):
        feedback.open_dispute(s, world.users["agent1"], rid, reason="late")


def test_calibration_never_counts_in_agent_scores(world: review_world.World) -> None:
    """Blind calibration answers give per-item deviations and leave agent scores and scorecards alone."""
    sup, i1, i2 = world.users["sup"], world.users["insp1"], world.users["insp2"]
    with session() as s:
        before = agent_scores(s)
        cs = calibration.create_session(
            s, sup, title="week 47", call_ids=["a1-call-0"], inspectors=["insp1"], expert="insp2"
        )
    with session() as s:
        calibration.submit(s, i2, cs.id, "a1-call-0", answers={"greeting": "yes", "resolved": "yes"})
        calibration.submit(s, i1, cs.id, "a1-call-0", answers={"greeting": "no", "resolved": "yes"})
    with session() as s:
        devs = {d.item_id: d for d in calibration.deviations(s, sup, cs.id)}
        assert devs["greeting"].mismatches == 1 and devs["greeting"].points_diff < 0
        assert devs["resolved"].mismatches == 0
        assert agent_scores(s) == before
        assert feedback.scorecard(s, world.users["agent1"]) == []
        assert s.exec(select(Evaluation).where(Evaluation.kind == "calibration")).all() != []


def test_sampling_run_is_reproducible_from_its_seed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaying a run from its stored seed picks the same calls; assignments respect the daily cap."""
    review_world.fast_hashing(monkeypatch)
    world = review_world.build(calls_per_agent=5)
    sup = world.users["sup"]
    with session() as s:
        plan = sampling.create_plan(
            s,
            sup,
            name="two a day",
            mode="per_agent",
            count=2,
            inspectors=["insp1", "insp2"],
            daily_cap=1,
            seed=1234,
        )
        run = sampling.run_plan(
            s,
            sup,
            plan.id,
            start=DAY0 - timedelta(days=1),
            end=DAY0 + timedelta(days=1),
            first_day=DAY0.date(),
        )
    with session() as s:
        got = sampling.run_assignments(s, run.id)
        again = sampling.replay_run(s, sup, run.id)
    assert run.seed == 1234 and len(got) == 4
    assert sorted((a.call_id, a.reason) for a in got) == sorted((p.call_id, p.reason) for p in again)
    per_day: dict[tuple[str, str], int] = {}
    for a in got:
        per_day[(a.inspector, a.day)] = per_day.get((a.inspector, a.day), 0) + 1
    assert max(per_day.values()) == 1 and {a.inspector for a in got} == {"insp1", "insp2"}
    assert any("least sure" in a.reason for a in got)  # the rude call's critical fail goes first


def test_sampling_filters_and_percent_minimum(world: review_world.World) -> None:
    """A percentage plan takes at least its minimum; filters on words and critical fail narrow the pool."""
    sup = world.users["sup"]
    with session() as s:
        p = sampling.create_plan(
            s,
            sup,
            name="words",
            mode="percent",
            percent=1,
            minimum=1,
            inspectors=["insp1"],
            filters={"words": ["stupid"]},
            seed=7,
        )
        r = sampling.run_plan(s, sup, p.id, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1))
        assert [a.call_id for a in sampling.run_assignments(s, r.id)] == ["a2-call-0"]
        with pytest.raises(InvalidInput):
            sampling.create_plan(
                s, sup, name="bad", mode="percent", percent=5, inspectors=["insp1"], filters={"colour": "red"}
            )
        with pytest.raises(Forbidden):
            sampling.create_plan(
                s, world.users["insp1"], name="x", mode="per_agent", count=1, inspectors=["insp1"]
            )


def test_reviews_needed_for_a_margin_of_error() -> None:
    """n = (z·σ/E)²: σ 10, ±5 points at 90 % → 11 reviews; no variance yet → unknown."""
    assert draw.reviews_needed([70.0, 80.0, 90.0], margin=5, confidence=0.9) == 11
    assert draw.reviews_needed([70.0], margin=5, confidence=0.9) is None


def test_dashboard_kpis_come_from_reviews(world: review_world.World) -> None:
    """Monitoring score, first-contact resolution and AI agreement follow the inspectors' final answers."""
    from review_app.workflow import dashboard

    insp, sup = world.users["insp1"], world.users["sup"]
    with session() as s:
        r = submit_review(s, insp, "a1-call-0", human=HumanAnswers(answers={"greeting": "no", "resolved": "yes"}),
                          verdict="fail")
    start, end = DAY0 - timedelta(days=1), DAY0 + timedelta(days=30)
    with session() as s:
        k = dashboard.kpis(s, sup, start=start, end=end)
        agree = {row["item"]: row for row in dashboard.agreement(s, sup, start=start, end=end)}
        with pytest.raises(Forbidden):
            dashboard.kpis(s, insp, start=start, end=end)
    assert (k.calls, k.reviewed, k.monitoring_score, k.fcr_rate) == (4, 1, round(r.score, 1), 100.0)
    assert agree["greeting"]["agreement"] == 0.0 and agree["greeting"]["reviewed"] == 1
    assert agree["farewell"]["agreement"] == 100.0


def test_dashboard_kpis_and_trend_take_the_same_calls(world: review_world.World) -> None:
    """A call reviewed long after it took place counts in its own day's window, KPIs and trend alike."""
    from review_app.workflow import dashboard
    from storage.calls import Call

    sup = world.users["sup"]
    r = _review(world)
    old = DAY0 - timedelta(days=60)
    with session() as s:
        call = s.get(Call, "a1-call-0")
        assert call is not None
        call.started_at = old
        s.add(call)
    with session() as s:
        for start, end, reviewed in ((DAY0 - timedelta(days=30), DAY0 + timedelta(days=30), 0),
                                     (old - timedelta(days=1), old + timedelta(days=1), 1)):
            k = dashboard.kpis(s, sup, start=start, end=end)
            trend = dashboard.score_trend(s, sup, start=start, end=end, by="agent")
            assert k.reviewed == sum(p["reviews"] for p in trend) == reviewed
        review = s.get(Review, r)
        assert review is not None
    assert trend == [{"day": old.date().isoformat(), "agent": "A1", "score": round(review.score, 1), "reviews": 1}]


def test_current_totals_follow_current_evaluation(world: review_world.World) -> None:
    """In bulk, each call's total is that of its current evaluation: the review where there is one, else auto."""
    from storage.evaluations import current_evaluation, current_totals

    with session() as s:
        submit_review(s, world.users["insp1"], "a1-call-0", human=HumanAnswers(answers={"greeting": "no"}),
                      verdict="fail")
    with session() as s:
        totals = current_totals(s)
        assert set(totals) == set(world.calls)
        for cid in world.calls:
            ev = current_evaluation(s, cid)
            assert ev is not None and totals[cid] == ev.total
            assert ev.kind == ("human" if cid == "a1-call-0" else "auto")
        auto = current_evaluation(s, "a1-call-0", kind="auto")
        assert auto is not None and auto.total != totals["a1-call-0"]  # the override changed the score
        assert current_totals(s, ["a1-call-1", "missing"]) == {"a1-call-1": totals["a1-call-1"]}
