"""κ-gated auto-submit: once inspectors agree with the machine often enough, its evaluations count alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from review_app.workflow.feedback import scorecard
from scoring.handler import score_call
from scoring.rubric import parse_rubric
from scoring.trust import item_hashes, trust_for
from storage.calls import Call
from storage.db import session
from storage.evaluations import Evaluation, EvaluationItem
from storage.settings import reset_settings
from storage.users import Principal, Role
from tests.scoring_calls import good_call, seg, store_call

RUBRIC = """\
id: short
version: {version}
title: Short
sections:
  - id: main
    title: Main
    weight: 1
    items:
      - id: greeting
        title: Greets
        points: 10
        check: {{kind: phrase, speaker: agent, any: [{phrase}], within_s: 20}}
      - id: no-abuse
        title: No abuse
        points: 10
        critical: true
        check: {{kind: forbidden, speaker: agent, any: ["shut up", "stupid"]}}
"""
SUP = Principal("sup", Role.supervisor)


def rubric(version: int = 1, phrase: str = '"thank you for calling"'):
    return parse_rubric(RUBRIC.format(version=version, phrase=phrase), f"short-v{version}.yaml")


def greeting_less():
    return [seg("agent", 0.5, 3.0, "Yeah, what is it?"), *good_call()[1:]]


def rude():
    return [*good_call()[:-1], seg("agent", 36.0, 38.0, "Shut up, that is stupid.")]


def inspector_confirms(s, evaluation_id: int) -> None:
    """An inspector reviews the call and keeps every auto answer (as the review form does)."""
    for row in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == evaluation_id)):
        row.human_answer = row.final_answer = row.auto_answer
        row.final_source = "human"
        s.add(row)


def scored(s, call_id: str, segments, loaded) -> Evaluation:
    store_call(s, call_id, segments)
    call = s.get(Call, call_id)
    call.agent_id, call.started_at = "A1", datetime(2026, 11, 2, 9, tzinfo=UTC)
    s.add(call)
    return score_call(s, call_id, loaded)


@pytest.fixture
def four_reviews(monkeypatch):
    monkeypatch.setenv("CALLQC_AUTO_SUBMIT_MIN_REVIEWS", "4")
    reset_settings()


def test_evaluations_auto_submit_once_kappa_crosses_the_bar_and_reach_the_scorecard(db_url, four_reviews):
    """Reviewed calls build trust; a clean call scored after that is auto-submitted and counted as 'auto'."""
    v1 = rubric()
    with session() as s:
        kinds = [good_call, greeting_less, rude, good_call, greeting_less]
        first = scored(s, "c-0", kinds[0](), v1)
        assert first.auto_submitted is False  # nobody has reviewed anything yet
        for k, make in enumerate(kinds[1:], start=1):
            ev = scored(s, f"c-{k}", make(), v1)
            assert ev.auto_submitted is False
            inspector_confirms(s, ev.id)
        inspector_confirms(s, first.id)
    with session() as s:
        trust = trust_for(s, v1)
        assert trust["greeting"].trusted and trust["no-abuse"].trusted
        assert trust["greeting"].reviewed == 4 and trust["greeting"].kappa == pytest.approx(1.0)
        clean = scored(s, "c-new", good_call(), v1)
        dirty = scored(s, "c-rude", rude(), v1)
    assert clean.auto_submitted is True and clean.trust["greeting"]["trusted"] is True
    assert dirty.auto_submitted is False  # a critical fail always waits for a human
    with session() as s:
        rows = scorecard(s, SUP, "A1")
    autos = {r.call_id: r for r in rows if r.source == "auto"}
    assert set(autos) == {"c-new"}
    assert autos["c-new"].score == clean.total and "κ ≥ 1.00" in autos["c-new"].trust


def test_insufficient_evidence_blocks_auto_submit(db_url, four_reviews):
    """A trusted item answered 'insufficient' (low-confidence speech) keeps the evaluation for a human."""
    v1 = rubric()
    with session() as s:
        for k, make in enumerate([good_call, greeting_less, rude, good_call, greeting_less]):
            inspector_confirms(s, scored(s, f"c-{k}", make(), v1).id)
        mumbled = [seg("agent", 0.5, 4.5, good_call()[0].text, logprob=-3.0), *good_call()[1:]]
        ev = scored(s, "c-mumble", mumbled, v1)
        greeting = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id,
                                                       EvaluationItem.item_id == "greeting")).one()
    assert greeting.auto_answer == "insufficient" and ev.needs_review
    assert ev.auto_submitted is False


def test_a_new_rubric_version_resets_trust_only_for_changed_items(db_url, four_reviews):
    """v2 changes the greeting check: greeting starts again from zero, no-abuse keeps its trust."""
    v1 = rubric()
    v2 = rubric(2, '"thank you for calling", "welcome to"')
    assert item_hashes(v1.rubric)["greeting"] != item_hashes(v2.rubric)["greeting"]
    assert item_hashes(v1.rubric)["no-abuse"] == item_hashes(v2.rubric)["no-abuse"]
    with session() as s:
        for k, make in enumerate([good_call, greeting_less, rude, good_call, greeting_less]):
            inspector_confirms(s, scored(s, f"c-{k}", make(), v1).id)
    with session() as s:
        trust = trust_for(s, v2)
        assert trust["greeting"].trusted is False and trust["greeting"].reviewed == 0
        assert trust["no-abuse"].trusted is True
        ev = scored(s, "c-v2", good_call(), v2)
        rows = {r.item_id: r for r in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id))}
    assert ev.auto_submitted is False
    assert (rows["no-abuse"].final_answer, rows["no-abuse"].final_source) == ("yes", "auto")
    assert rows["greeting"].final_answer is None
