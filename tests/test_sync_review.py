"""Synchronous review (同步抽听): answers marked while listening are saved with the call's second;
submitting waits for the call's end; a draft becomes one review marked sync, shown as such on the
agent's scorecard; the call page drives it (AppTest)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.feedback import scorecard
from review_app.workflow.sync_review import (
    CallStillLive,
    NotLive,
    SyncAlreadySubmitted,
    draft_of,
    mark,
    submit_sync,
)
from storage.calls import Call, CallStatus, move
from storage.db import session
from storage.models import utcnow
from storage.reviews import Review, ReviewMode
from storage.sync_drafts import SyncDraft
from tests import review_world

pytestmark = pytest.mark.app
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
STARTED = utcnow() - timedelta(seconds=90)


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    monkeypatch.setenv("CALLQC_LIVE_TRANSCRIPT", "false")  # no journal here: nothing to follow
    w = review_world.build(calls_per_agent=1)
    with session() as s:
        s.add(Call(call_id="live-1", agent_id="A1", queue="sales", started_at=STARTED, codec="pcm_mulaw",
                   sample_rate=8000, channels=2, audio_key="live/live-1", size_bytes=0, sha256="0" * 64,
                   status=CallStatus.in_progress))
    return w


def _end(call_id: str = "live-1") -> None:
    with session() as s:
        move(s, call_id, CallStatus.recorded, ended_at=utcnow(), duration_s=95.0)


def _human(answer: str = "no") -> HumanAnswers:
    return HumanAnswers(answers={"greeting": answer}, comments={"greeting": ""}, comment="heard live")


def test_marks_keep_the_calls_second_and_submit_waits_for_the_end(world: review_world.World) -> None:
    insp = world.users["insp1"]
    with session() as s:
        mark(s, insp, "live-1", "greeting", "yes", now=STARTED + timedelta(seconds=12))
        mark(s, insp, "live-1", "greeting", "no", comment="no name", now=STARTED + timedelta(seconds=41.04))
    with session() as s:
        draft = draft_of(s, insp, "live-1")
        assert draft is not None and draft.marks == {"greeting": {"answer": "no", "comment": "no name", "at_s": 41.0}}
        with pytest.raises(CallStillLive):
            submit_sync(s, insp, "live-1", human=_human(), verdict="fail", form_token="form-aaaa-1")
    assert_no_reviews()
    _end()
    with session() as s:
        with pytest.raises(NotLive):
            mark(s, insp, "live-1", "greeting", "yes")
        review = submit_sync(s, insp, "live-1", human=_human(), verdict="fail", form_token="form-aaaa-1")
    with session() as s:
        again = submit_sync(s, insp, "live-1", human=_human(), verdict="fail", form_token="form-aaaa-1")
        assert again.id == review.id  # the same form sent twice
        with pytest.raises(SyncAlreadySubmitted):
            submit_sync(s, insp, "live-1", human=_human("yes"), verdict="pass", form_token="form-bbbb-2")
    with session() as s:
        stored = s.exec(select(Review)).one()
        draft = s.exec(select(SyncDraft)).one()
        rows = scorecard(s, world.users["sup"], "A1")
    assert stored.mode == ReviewMode.sync and draft.review_id == stored.id
    assert [(r.call_id, r.source) for r in rows if r.call_id == "live-1"] == [("live-1", "sync")]


def assert_no_reviews() -> None:
    with session() as s:
        assert s.exec(select(Review)).all() == []


def test_agents_cannot_mark_and_unknown_items_are_refused(world: review_world.World) -> None:
    from review_app.workflow.inspection import UnknownItem
    from storage.access import NotPermitted

    with session() as s, pytest.raises(NotPermitted):
        mark(s, world.users["agent1"], "live-1", "greeting", "yes")
    with session() as s, pytest.raises(UnknownItem):
        mark(s, world.users["insp1"], "live-1", "no-such-item", "yes")
    with session() as s:
        assert s.exec(select(SyncDraft)).all() == []


def test_the_call_page_saves_marks_while_live_and_submits_sync_after_the_end(world: review_world.World) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("insp1")
    at.query_params["call"] = "live-1"
    at.run()
    at.switch_page("views/call.py").run()
    assert not at.exception, at.exception
    assert t("sync_help_live") in [i.value for i in at.info]
    assert at.button(key="submit_review").disabled
    at.selectbox(key="ans:live-1:greeting").select("no").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with session() as s:
        draft = s.exec(select(SyncDraft)).one()
    assert draft.inspector == "insp1" and draft.marks["greeting"]["answer"] == "no"
    assert draft.marks["greeting"]["at_s"] >= 89
    _end()
    at.run()
    assert t("sync_help_ended") in [i.value for i in at.info]
    assert at.button(key="submit_review").label == t("submit_sync_review")
    at.radio(key="verdict:live-1").set_value("fail")
    at.button(key="submit_review").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with session() as s:
        review = s.exec(select(Review)).one()
    assert review.mode == ReviewMode.sync and review.call_id == "live-1" and review.verdict == "fail"
    assert any(t("review_mode_sync") in c.value for c in at.caption)


def test_the_agent_sees_the_sync_review_and_the_auto_score_that_came_after_it(world: review_world.World) -> None:
    """The sync review's marks keep their seconds after submission; the auto-score stored after the
    call sits next to it on the agent's own scorecard (page too), the review's score still the one counted."""
    from scoring.autoscore import evaluate
    from scoring.evaluations import store_auto_evaluation
    from scoring.rubric import active_rubric
    from storage.evaluations import current_totals
    from tests.scoring_calls import call as conversation
    from tests.scoring_calls import good_call

    insp = world.users["insp1"]
    with session() as s:
        mark(s, insp, "live-1", "greeting", "no", now=STARTED + timedelta(seconds=33))
    _end()
    with session() as s:
        review = submit_sync(s, insp, "live-1", human=_human(), verdict="fail", form_token="form-cccc-3")
    with session() as s:
        assert [(r.source, r.auto_score) for r in scorecard(s, world.users["agent1"]) if r.call_id == "live-1"] == [
            ("sync", None)]  # the auto-score has not arrived yet
        stored = store_auto_evaluation(s, "live-1", evaluate(active_rubric(), conversation(good_call())))
        auto_total = stored.total
    with session() as s:
        rows = [r for r in scorecard(s, world.users["agent1"]) if r.call_id == "live-1"]
        draft = s.exec(select(SyncDraft)).one()
        counted = current_totals(s, ["live-1"])["live-1"]
    assert [(r.source, r.review_id, r.auto_score) for r in rows] == [("sync", review.id, auto_total)]
    assert draft.review_id == review.id and draft.marks["greeting"]["at_s"] == 33.0
    assert counted == review.score and counted != auto_total
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("agent1")
    at.run()
    at.switch_page("views/scorecard.py").run()
    assert not at.exception, at.exception
    shown = [c.value for c in at.caption]
    want = t("review_mode_sync") + " · " + t("sync_auto_score", score=round(auto_total or 0, 1))
    assert want in shown, shown
