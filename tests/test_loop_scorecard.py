"""Agent scorecard summary and per-item disputes with their history."""

from __future__ import annotations

import pytest
from sqlmodel import select

from review_app.session import _TOKEN as TOKEN
from review_app.workflow.agent_summary import summary
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.feedback import DisputeOpen, acknowledge, history, open_dispute, resolve_dispute
from review_app.workflow.inspection import submit_review
from storage.db import session
from storage.errors import Forbidden, InvalidInput
from storage.evaluations import EvaluationItem
from storage.reviews import Review
from tests import review_world


@pytest.fixture
def world(sqlite_db, monkeypatch):
    review_world.fast_hashing(monkeypatch)
    w = review_world.build()
    with session() as s:
        for cid, verdict in (("a1-call-0", "pass"), ("a2-call-0", "fail"), ("a2-call-1", "fail")):
            # the inspector marks the good call's farewell missing: an item the agent may dispute
            answers = {"farewell": "no"} if cid == "a2-call-1" else {}
            submit_review(s, w.users["insp1"], cid, human=HumanAnswers(answers=answers), verdict=verdict)
    return w


def review_of(s, call_id: str) -> Review:
    return s.exec(select(Review).where(Review.call_id == call_id)).one()


def test_summary_compares_with_the_team_and_lists_items_and_open_feedback(world):
    agent2 = world.users["agent2"]
    with session() as s:
        scores = {r.call_id: r.score for r in s.exec(select(Review))}
        mine = summary(s, agent2)
        assert mine.agent_id == "A2" and mine.team == "T1" and mine.evaluations == 2
        assert mine.score == round((scores["a2-call-0"] + scores["a2-call-1"]) / 2, 1)
        assert mine.team_score == round(sum(scores.values()) / 3, 1)  # A1's reviewed call is in the team too
        assert mine.previous_score is None and mine.trend is None
        assert mine.strongest and mine.weakest and mine.weakest[0].yes_pct <= mine.strongest[0].yes_pct
        assert sorted(mine.open_feedback) == sorted(review_of(s, c).id for c in ("a2-call-0", "a2-call-1"))
        acknowledge(s, agent2, review_of(s, "a2-call-1").id)
    with session() as s:
        assert summary(s, agent2).open_feedback == [review_of(s, "a2-call-0").id]
        assert summary(s, world.users["sup"], "A2").score == mine.score
        with pytest.raises(Forbidden):
            summary(s, agent2, "A1")


def test_an_item_dispute_rescores_the_review_and_keeps_every_answer(world):
    agent2, sup = world.users["agent2"], world.users["sup"]
    with session() as s:
        review = review_of(s, "a2-call-1")
        item = "farewell"
        d = open_dispute(s, agent2, review.id, reason="I did that", item_id=item)
        with pytest.raises(DisputeOpen):
            open_dispute(s, agent2, review.id, reason="again", item_id=item)
        with pytest.raises(InvalidInput):
            open_dispute(s, agent2, review.id, reason="?", item_id="no-such-item")
        whole = open_dispute(s, agent2, review.id, reason="the whole thing")  # other disputes stay possible
        assert whole.item_id is None
        before, old_eval = review.score, review.evaluation_id
    with session() as s:
        resolved = resolve_dispute(s, sup, d.id, new_answer="yes", comment="heard it at 0:40")
        review = review_of(s, "a2-call-1")
        assert resolved.state == "changed" and review.score == resolved.score_after and review.score > before
        assert review.evaluation_id != old_eval
        kept = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == old_eval,
                                                   EvaluationItem.item_id == item)).one()
        assert kept.final_answer == "no"  # the inspector's evaluation is never edited
        events = [(e.action, e.detail.get("item"), e.detail.get("answer_before"), e.detail.get("answer_after"))
                  for e in history(s, agent2, review.id) if e.dispute_id == d.id]
        assert events == [("opened", item, None, None), ("changed", item, "no", "yes")]
        with pytest.raises(InvalidInput):
            resolve_dispute(s, sup, whole.id, new_answer="yes")  # a whole-evaluation dispute changes the score


@pytest.mark.app
def test_item_dispute_from_the_scorecard_page_to_the_disputes_page(world):
    """The agent sees the summary, disputes one item; the supervisor sets that item's answer."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from review_app.i18n import t
    from storage.reviews import Dispute

    app = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
    with session() as s:
        rid = review_of(s, "a2-call-1").id
    at = AppTest.from_file(app, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("agent2")
    at.run()
    at.switch_page("views/scorecard.py").run()
    assert [m.label for m in at.metric][:2] == [t("sc_my_score"), t("sc_team_score")]
    at.text_input(key=f"sc_note:{rid}").input("I said goodbye")
    at.selectbox(key=f"sc_item:{rid}").select("farewell")
    at.button(key=f"dispute:{rid}").click().run()
    assert not at.error, [e.value for e in at.error]
    with session() as s:
        d = s.exec(select(Dispute)).one()
    assert d.item_id == "farewell"
    at = AppTest.from_file(app, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("sup")
    at.run()
    at.switch_page("views/disputes.py").run()
    at.selectbox(key=f"d_answer:{d.id}").select("yes")
    at.button(key=f"answer:{d.id}").click().run()
    with session() as s:
        assert s.get(Dispute, d.id).state == "changed" and s.get(Review, rid).score == s.get(Dispute, d.id).score_after
