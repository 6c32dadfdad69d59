"""Learned items: training from inspectors' final answers, the report, too few labels, stable past answers."""

from __future__ import annotations

import pytest
from sqlmodel import select

from scoring.handler import score_call
from scoring.learned import ModelPredictor, train
from scoring.rubric import Answer, parse_rubric
from storage.db import session
from storage.evaluations import EvaluationItem
from storage.stores import make_store
from tests.scoring_calls import call, seg, store_call
from tests.test_scoring_rubric import CONTRACT

pytestmark = pytest.mark.slow  # trains three small models (several seconds)

WARM = ["I completely understand how frustrating that is", "I am so sorry about the trouble this caused",
        "That must be really difficult, I understand", "非常理解您的心情，给您带来不便非常抱歉",
        "I understand your concern and I am sorry", "我非常理解您的感受，真的很抱歉"]
COLD = ["That is the policy", "You need to call another department", "我们没有办法，这是规定",
        "Just read me the number", "That is not something we do", "你自己去网上查"]
NEUTRAL = ["Let me check your account now", "The refund will take three days", "请稍等，我帮您查询一下"]


def labelled_call(s, call_id: str, warm: bool, k: int, rubric) -> None:
    phrases = WARM if warm else COLD
    segs = [seg("agent", 0.5, 3.0, "Thank you for calling"),
            seg("customer", 3.5, 6.0, "My order never arrived"),
            seg("agent", 6.5, 10.0, phrases[k % len(phrases)]),
            seg("agent", 10.5, 13.0, NEUTRAL[k % len(NEUTRAL)]),
            seg("agent", 13.5, 16.0, phrases[(k + 1) % len(phrases)])]
    store_call(s, call_id, segs)
    ev = score_call(s, call_id, rubric)
    row = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id,
                                              EvaluationItem.item_id == "empathy")).one()
    row.human_answer = row.final_answer = "yes" if warm else "no"
    row.final_source = "human"
    s.add(row)


def empathy_row(s, ev_id: int) -> EvaluationItem:
    return s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev_id,
                                               EvaluationItem.item_id == "empathy")).one()


def test_model_item_trains_reports_and_keeps_past_answers(sqlite_db, monkeypatch):
    """Too few labels → no model; enough → a report and a stored model; retraining leaves past rows alone."""
    from storage.settings import reset_settings

    monkeypatch.setenv("CALLQC_MODEL_MIN_LABELS", "16")
    reset_settings()
    rubric = parse_rubric(CONTRACT, "contract.yaml")
    with session() as s:
        for k in range(6):
            labelled_call(s, f"l-{k}", k % 2 == 0, k, rubric)
        report = train(s, "empathy", rubric.rubric)
    assert not report.trained and "too few labels" in report.reason
    assert report.labels == {"yes": 3, "no": 3}
    with session() as s:
        for k in range(6, 20):
            labelled_call(s, f"l-{k}", k % 2 == 0, k, rubric)
        report = train(s, "empathy", rubric.rubric)
    text = "\n".join(report.lines())
    assert report.trained and report.version == 1 and report.labels == {"yes": 10, "no": 10}
    assert "Cohen's kappa" in text and 0.0 <= report.cv_accuracy <= 1.0
    assert report.cv_accuracy >= 0.7
    with session() as s:
        warm = "I am so sorry, I completely understand how you feel"
        store_call(s, "new-warm", [seg("agent", 0.5, 4.0, warm), seg("customer", 4.5, 6.0, "thanks")])
        ev = score_call(s, "new-warm", rubric)
        first = empathy_row(s, ev.id)
        before = (first.auto_answer, first.model_version, first.confidence, first.evidence)
    assert before[0] == Answer.yes and before[1] == "empathy@v1"
    assert before[3][0]["quote"].startswith("I am so sorry")
    with session() as s:
        for k in range(20, 26):
            labelled_call(s, f"l-{k}", k % 2 == 0, k, rubric)
        assert train(s, "empathy", rubric.rubric).version == 2
    with session() as s:
        after = empathy_row(s, ev.id)
        assert (after.auto_answer, after.model_version, after.confidence, after.evidence) == before
    predictor = ModelPredictor(make_store())
    cold = call([seg("agent", 0, 3, "That is the policy, call another department")])
    fresh = predictor(rubric.rubric.item("empathy").check, cold)
    assert fresh.model_version == "empathy@v2"
    mono = call([seg("unknown", 0, 3, "I am so sorry, I completely understand")], stereo=False)
    unattributed = predictor(rubric.rubric.item("empathy").check, mono)
    assert unattributed.answer is Answer.insufficient and "mono" in unattributed.reason
