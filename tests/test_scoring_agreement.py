"""Agreement with inspectors: κ on a worked example, per-item statistics from stored reviews, auto-submit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sklearn.metrics import cohen_kappa_score
from sqlmodel import select

from scoring.agreement import agreement_of, cohen_kappa, item_agreements
from scoring.handler import score_call
from scoring.rubric import parse_rubric
from scoring.trust import trust_for
from storage.db import session
from storage.evaluations import EvaluationItem
from storage.models import utcnow
from tests.scoring_calls import good_call, seg, store_call
from tests.test_scoring_rubric import CONTRACT


def test_kappa_worked_example():
    """50 pairs: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → p_o 0.7, p_e 0.5, κ 0.4."""
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    a, b = zip(*pairs, strict=True)
    assert cohen_kappa(pairs) == pytest.approx(cohen_kappa_score(a, b))
    stats = agreement_of("greeting", pairs + [("insufficient", "yes")], kappa_bar=0.8, min_reviews=25)
    assert stats.reviewed == 50 and stats.undecided == 1 and stats.agree_pct == pytest.approx(70.0)
    assert stats.confusion[("no", "yes")] == 10 and stats.auto_submit is False


def test_auto_submit_needs_the_kappa_bar_over_25_reviewed_calls():
    """Perfect agreement on 24 calls is not enough, on 25 it is; κ just over 0.8 passes, just under fails."""
    perfect = [("yes", "yes"), ("no", "no")] * 13
    assert agreement_of("x", perfect[:24], kappa_bar=0.8, min_reviews=25).auto_submit is False
    assert agreement_of("x", perfect[:25], kappa_bar=0.8, min_reviews=25).auto_submit is True
    shaky = [("yes", "yes")] * 18 + [("no", "no")] * 18 + [("yes", "no")] * 4
    over = agreement_of("x", shaky, kappa_bar=0.8, min_reviews=25)  # κ = 0.405 / 0.505 ≈ 0.802
    assert over.kappa == pytest.approx(0.802, abs=1e-3) and over.auto_submit is True
    under = agreement_of("x", shaky + [("no", "yes")], kappa_bar=0.8, min_reviews=25)  # κ ≈ 0.757
    assert under.kappa < 0.8 and under.auto_submit is False


def test_kappa_undefined_when_one_answer_only():
    """All pairs yes/yes: κ is undefined (None) and cannot allow auto-submit."""
    assert cohen_kappa([("yes", "yes")] * 30) is None
    assert agreement_of("x", [("yes", "yes")] * 30, kappa_bar=0.8, min_reviews=25).auto_submit is False


def test_auto_submit_follows_reviewed_agreement(db_url, monkeypatch):
    """Once inspectors confirm an item's auto answers on enough calls, it auto-submits on the next call."""
    from storage.settings import reset_settings

    monkeypatch.setenv("CALLQC_AUTO_SUBMIT_MIN_REVIEWS", "4")
    reset_settings()
    rubric = parse_rubric(CONTRACT, "contract.yaml")
    greeting_less = [seg("agent", 0.5, 3.0, "Yeah, what is it?"), *good_call()[1:]]
    with session() as s:
        for k in range(6):
            store_call(s, f"a-{k}", good_call() if k % 2 else greeting_less)
            ev = score_call(s, f"a-{k}", rubric)
            for row in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id)):
                if row.item_id == "greeting":  # the inspector agrees with every greeting answer
                    row.human_answer = row.final_answer = row.auto_answer
                    row.final_source = "human"
                    s.add(row)
    with session() as s:
        stats = {a.item_id: a for a in item_agreements(s)}
        assert stats["greeting"].reviewed == 6 and stats["greeting"].kappa == pytest.approx(1.0)
        assert {k for k, v in trust_for(s, rubric).items() if v.trusted} == {"greeting"}
        # the window rolls: 91 days on, these reviews fall out of the default 90-day window
        assert item_agreements(s, now=utcnow() + timedelta(days=91)) == []
        store_call(s, "a-new", good_call())
        ev = score_call(s, "a-new", rubric)
        stmt = select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id)
        rows = {r.item_id: r for r in s.exec(stmt)}
    assert (rows["greeting"].final_answer, rows["greeting"].final_source) == ("yes", "auto")
    assert rows["dead-air"].final_answer is None
