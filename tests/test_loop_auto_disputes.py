"""Agents dispute auto-submitted evaluations: the dispute reaches the supervisors, the call the team
queue, and an inspector's review (or a supervisor's uphold) settles it, history kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow import auto_disputes, feedback, inspection, routing
from review_app.workflow.dispute_errors import AutoScoreNeedsReview, DisputeNeedsReason, DisputeOpen
from review_app.workflow.evalview import HumanAnswers
from storage.access import CallNotVisible, NotPermitted
from storage.db import session
from storage.evaluations import Evaluation, EvaluationKind
from storage.reviews import Dispute, DisputeState
from storage.routing import RoutedCall, RoutedState, RouteReason
from tests import review_world

APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    monkeypatch.setenv("CALLQC_LOCALE", "en")
    from storage.settings import reset_settings

    reset_settings()
    review_world.fast_hashing(monkeypatch)
    return review_world.build()


def _auto_submit(call_id: str) -> int:
    """Mark the call's auto evaluation as auto-submitted (as the κ gate does once items are trusted)."""
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id, Evaluation.kind == EvaluationKind.auto,
                                             Evaluation.active == True)).one()  # noqa: E712
        ev.auto_submitted = True
        s.add(ev)
        return ev.id or 0


def _routed(call_id: str) -> list[RoutedCall]:
    with session() as s:
        return list(s.exec(select(RoutedCall).where(RoutedCall.call_id == call_id)))


def test_agent_disputes_an_auto_submitted_evaluation_and_a_review_settles_it(world: review_world.World) -> None:
    """The auto row is disputable by its agent only; the dispute waits for the supervisor, the call
    goes into the team queue first; the supervisor cannot edit the machine score; the inspector's
    review settles the dispute and takes the auto row's place on the scorecard."""
    u = world.users
    ev_id = _auto_submit("a1-call-0")
    with session() as s:
        [row] = [r for r in feedback.scorecard(s, u["agent1"]) if r.source == "auto" and r.call_id == "a1-call-0"]
        assert row.evaluation_id == ev_id and row.dispute is None
        with pytest.raises(CallNotVisible):
            auto_disputes.open_dispute(s, u["agent2"], ev_id, reason="not mine")
        with pytest.raises(NotPermitted):
            auto_disputes.open_dispute(s, u["insp1"], ev_id, reason="inspectors do not dispute")
        with pytest.raises(DisputeNeedsReason):
            auto_disputes.open_dispute(s, u["agent1"], ev_id, reason="  ")
        d = auto_disputes.open_dispute(s, u["agent1"], ev_id, reason="I did greet the customer")
        with pytest.raises(DisputeOpen):
            auto_disputes.open_dispute(s, u["agent1"], ev_id, reason="again")
    with session() as s:
        [row] = [r for r in feedback.scorecard(s, u["agent1"]) if r.call_id == "a1-call-0"]
        assert (row.source, row.dispute) == ("auto", "open")
        [waiting] = feedback.open_disputes(s, u["sup"])
        assert (waiting.dispute.id, waiting.call_id, waiting.auto) == (d.id, "a1-call-0", True)
        [queued] = routing.team_queue(s, u["insp1"])
        assert (queued.call_id, queued.reason, queued.priority) == ("a1-call-0", "disputed", 1)
        with pytest.raises(AutoScoreNeedsReview):
            feedback.resolve_dispute(s, u["sup"], d.id or 0, new_score=90.0)
    with session() as s:
        review = inspection.submit_review(s, u["insp1"], "a1-call-0", human=HumanAnswers(answers={}), verdict="pass")
    with session() as s:
        settled = s.get(Dispute, d.id)
        assert settled is not None and settled.review_id == review.id
        assert settled.state == (DisputeState.upheld if review.score == d.score_before else DisputeState.changed)
        assert feedback.open_disputes(s, u["sup"]) == []
        [row] = [r for r in feedback.scorecard(s, u["agent1"]) if r.call_id == "a1-call-0"]
        assert (row.source, row.review_id, row.dispute) == ("human", review.id, str(settled.state))
        events = [e.action for e in feedback.history(s, u["agent1"], review.id or 0)]
        assert events == ["opened", str(settled.state)]
    assert [(r.reason, r.state) for r in _routed("a1-call-0")] == [(RouteReason.disputed, RoutedState.done)]


def test_supervisor_upholds_an_auto_score_and_the_call_leaves_the_queue(world: review_world.World) -> None:
    """Uphold keeps the machine's score on the scorecard, closes the dispute and the queued call."""
    u = world.users
    ev_id = _auto_submit("a1-call-1")
    with session() as s:
        d = auto_disputes.open_dispute(s, u["agent1"], ev_id, reason="the hold was announced")
    with session() as s:
        done = feedback.resolve_dispute(s, u["sup"], d.id or 0, comment="the machine heard it right")
        assert done.state == DisputeState.upheld and done.score_after == done.score_before
        [row] = [r for r in feedback.scorecard(s, u["agent1"]) if r.call_id == "a1-call-1"]
        assert (row.source, row.dispute) == ("auto", "upheld")
        assert [e.action for e in auto_disputes.history(s, u["agent1"], ev_id)] == ["opened", "upheld"]
        assert routing.team_queue(s, u["insp1"]) == []
    assert [r.state for r in _routed("a1-call-1")] == [RoutedState.done]


@pytest.mark.app
def test_agent_disputes_an_auto_row_on_the_scorecard_page(world: review_world.World) -> None:
    """On the Scorecard page the auto row has a Dispute button; pressing it opens the dispute."""
    ev_id = _auto_submit("a1-call-0")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("agent1")
    at.run()
    at.switch_page("views/scorecard.py").run()
    at.text_input(key=f"sc_note:auto{ev_id}").input("my greeting is at 0:02")
    at.button(key=f"dispute:auto{ev_id}").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    with session() as s:
        [d] = s.exec(select(Dispute).where(Dispute.evaluation_id == ev_id)).all()
    assert (d.state, d.reason, d.opened_by) == (DisputeState.open, "my greeting is at 0:02", "agent1")
    assert any(t("dispute_state", state=t("dispute_open")) in str(c.value) for c in at.caption)
