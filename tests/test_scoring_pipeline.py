"""The scoring job on a real database: stores the evaluation and metrics, moves the call, is idempotent."""

from __future__ import annotations

import pytest
from sqlmodel import select

from scoring.conversation import TranscriptNotReady
from scoring.evaluations import evaluation_json
from scoring.handler import handle, score_call
from scoring.rubric import Answer, load_rubric, parse_rubric
from scoring.versions import register_rubric
from storage.call_metrics import metrics_json
from storage.calls import Call
from storage.db import session
from storage.evaluations import Evaluation
from storage.jobs import JobContext
from storage.rubrics import RubricVersionConflict
from tests.scoring_calls import good_call, seg, store_call
from tests.test_scoring_rubric import CONTRACT


def job(call_id: str, **payload) -> JobContext:
    return JobContext(job_id=1, kind="score", call_id=call_id, payload=payload)


def test_handler_scores_a_transcribed_call_and_is_idempotent(db_url):
    """The job stores evaluation, evidence and metrics and marks the call scored; a re-run adds nothing."""
    with session() as s:
        store_call(s, "c-1", good_call() + [seg("agent", 40.0, 42.0, "Oh shut up and listen")])
    handle(job("c-1"))
    handle(job("c-1"))
    with session() as s:
        assert s.get(Call, "c-1").status == "scored"
        evs = s.exec(select(Evaluation).where(Evaluation.call_id == "c-1")).all()
        assert len(evs) == 1
        data = evaluation_json(s, "c-1")
        metrics = metrics_json(s, "c-1")
    assert data["rubric"]["id"] == "default" and data["rubric"]["version"] == 3
    assert data["total"] == 0.0 and data["passed"] is False  # critical no-abuse
    abuse = next(i for i in data["items"] if i["id"] == "no-abuse")
    assert abuse["auto_answer"] == "no" and abuse["human_answer"] is None and abuse["final_answer"] is None
    assert abs(abuse["evidence"][0]["start"] - 40.4) <= 1.0
    assert abuse["title"]["zh"] and abuse["title"]["en"]
    assert metrics["talk_s"]["agent"] > 0 and metrics["longest_silence_s"] == pytest.approx(2.0)


def test_call_without_transcript_is_not_scored(db_url):
    """A call still 'recorded' raises a retryable error and stores nothing."""
    with session() as s:
        store_call(s, "c-2", good_call(), status="recorded")
    with pytest.raises(TranscriptNotReady):
        handle(job("c-2"))
    with session() as s:
        assert evaluation_json(s, "c-2") is None and s.get(Call, "c-2").status == "recorded"


def test_changed_rubric_needs_a_new_version_and_rescore_keeps_the_old(db_url):
    """Same id+version with other content is refused; a new version adds an evaluation, the old stays."""
    v1 = parse_rubric(CONTRACT, "v1.yaml")
    changed = parse_rubric(CONTRACT.replace("pass_mark: 80", "pass_mark: 60"), "v1-edited.yaml")
    v2 = parse_rubric(CONTRACT.replace("pass_mark: 80", "pass_mark: 60").replace("version: 1", "version: 2"))
    with session() as s:
        store_call(s, "c-3", good_call())
        first = score_call(s, "c-3", v1)
    with session() as s, pytest.raises(RubricVersionConflict, match="bump 'version'"):
        register_rubric(s, changed)
    with session() as s:
        second = score_call(s, "c-3", v2)
    with session() as s:
        old, new = s.get(Evaluation, first.id), s.get(Evaluation, second.id)
        assert (old.rubric_version, old.active, old.superseded_by) == (1, False, new.id)
        assert (new.rubric_version, new.active, new.pass_mark) == (2, True, 60)
        data = evaluation_json(s, "c-3")
    assert data["evaluation_id"] == second.id and [h["rubric_version"] for h in data["history"]] == [1, 2]


def test_mono_call_routes_to_review(db_url):
    """A mono recording cannot decide agent-only items: insufficient evidence, needs_review."""
    with session() as s:
        store_call(s, "c-4", [seg("unknown", 0.5, 3.0, "Thank you for calling")], mono=True)
        ev = score_call(s, "c-4", load_rubric())
        assert ev.needs_review is True
        data = evaluation_json(s, "c-4")
    greeting = next(i for i in data["items"] if i["id"] == "greeting")
    assert greeting["auto_answer"] == Answer.insufficient
