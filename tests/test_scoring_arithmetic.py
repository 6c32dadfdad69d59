"""Score arithmetic: worked examples and hypothesis properties (range, N/A invariance, critical, weights)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.rubric import Answer, Rubric
from scoring.score import score

ANSWERS = [Answer.yes, Answer.no, Answer.na, Answer.insufficient, None]


def rubric(sections: list[tuple[float, list[tuple[float, bool | str]]]], pass_mark: float = 80) -> Rubric:
    """sections: [(weight, [(points, critical), ...]), ...]; items are named s<i>-<j>."""
    return Rubric.model_validate({
        "id": "r", "version": 1, "title": "t", "pass_mark": pass_mark,
        "sections": [
            {"id": f"s{i}", "title": f"S{i}", "weight": w, "items": [
                {"id": f"s{i}-{j}", "title": "x", "points": p, "critical": c, "check": {"kind": "manual"}}
                for j, (p, c) in enumerate(items)]}
            for i, (w, items) in enumerate(sections)],
    })


def test_worked_example_renormalises_over_applicable_sections():
    """30/70 weights; the 70 section is all N/A, so the total is the first section's percent alone."""
    r = rubric([(30, [(10, False), (10, False)]), (70, [(5, False)])])
    res = score(r, {"s0-0": Answer.yes, "s0-1": Answer.no, "s1-0": Answer.na})
    assert res.total == pytest.approx(50.0)
    assert res.passed is False
    assert res.sections[1].percent is None


def test_worked_example_weighted_total():
    """Section A 3/4 points (75 %) at weight 1, section B 100 % at weight 3: (75 + 300) / 4 = 93.75."""
    r = rubric([(1, [(3, False), (1, False)]), (3, [(5, False)])], pass_mark=90)
    res = score(r, {"s0-0": Answer.yes, "s0-1": Answer.no, "s1-0": Answer.yes})
    assert res.total == pytest.approx(93.75)
    assert res.passed is True


def test_critical_no_zeroes_the_call_and_section_scope_only_its_section():
    """critical: true → total 0; critical: section → that section 0, others still count."""
    r = rubric([(50, [(10, True), (10, False)]), (50, [(10, "section"), (10, False)])])
    full = {"s0-0": Answer.yes, "s0-1": Answer.yes, "s1-0": Answer.yes, "s1-1": Answer.yes}
    assert score(r, full).total == pytest.approx(100)
    call_fail = score(r, {**full, "s0-0": Answer.no})
    assert call_fail.total == 0.0 and call_fail.passed is False and call_fail.critical_failed == ("s0-0",)
    sec_fail = score(r, {**full, "s1-0": Answer.no})
    assert sec_fail.total == pytest.approx(50.0)
    assert sec_fail.critical_score == pytest.approx(50.0)


def test_insufficient_is_not_a_no_and_needs_review():
    """Insufficient evidence leaves the score as if the item were N/A and flags the call for a human."""
    r = rubric([(1, [(10, True), (10, False)])])
    res = score(r, {"s0-0": Answer.insufficient, "s0-1": Answer.yes})
    assert res.total == pytest.approx(100.0)
    assert res.needs_review is True
    assert res.critical_score is None


item_st = st.tuples(st.integers(1, 20).map(float), st.sampled_from([False, False, True, "section"]))
sections_st = st.lists(st.tuples(st.integers(1, 100).map(float), st.lists(item_st, min_size=1, max_size=4)),
                       min_size=1, max_size=4)


@st.composite
def scored(draw):
    secs = draw(sections_st)
    r = rubric(secs)
    answers = {it.id: draw(st.sampled_from(ANSWERS)) for _, it in r.items()}
    return secs, r, answers


@settings(max_examples=150, deadline=None)
@given(scored())
def test_total_is_between_0_and_100(case):
    """Whatever the answers, the total is None (nothing applies) or within [0, 100]."""
    _, r, answers = case
    res = score(r, answers)
    assert res.total is None or 0.0 <= res.total <= 100.0
    if res.total is None:
        assert all(s.percent is None for s in res.sections)


@settings(max_examples=150, deadline=None)
@given(scored(), st.integers(0, 3), st.sampled_from([Answer.na, Answer.insufficient, None]))
def test_adding_an_unanswerable_item_changes_nothing(case, where, answer):
    """An extra item answered N/A (or insufficient, or unanswered) leaves total and pass unchanged."""
    secs, r, answers = case
    before = score(r, answers)
    k = where % len(secs)
    secs2 = [(w, items + [(7.0, True)]) if i == k else (w, items) for i, (w, items) in enumerate(secs)]
    r2 = rubric(secs2)
    extra = f"s{k}-{len(secs[k][1])}"
    after = score(r2, {**answers, extra: answer})
    assert (after.total is None) == (before.total is None)
    if before.total is not None:
        assert after.total == pytest.approx(before.total)
    assert after.passed == before.passed


@settings(max_examples=100, deadline=None)
@given(scored(), st.integers(1, 10))
def test_scaling_all_weights_changes_nothing(case, factor):
    """Weights are relative: multiplying every weight by one factor keeps the total."""
    secs, r, answers = case
    r2 = rubric([(w * factor, items) for w, items in secs])
    a, b = score(r, answers).total, score(r2, answers).total
    assert (a is None and b is None) or a == pytest.approx(b)


@settings(max_examples=100, deadline=None)
@given(scored())
def test_any_call_critical_no_gives_zero(case):
    """If an item with critical: true is answered no, the total is 0 and the call fails."""
    secs, r, answers = case
    crit = [it.id for _, it in r.items() if it.critical is True]
    if not crit:
        return
    res = score(r, {**answers, crit[0]: Answer.no})
    assert res.total == 0.0 and res.passed is False


@settings(max_examples=100, deadline=None)
@given(scored())
def test_an_all_na_section_equals_removing_it(case):
    """A section whose items are all N/A weighs nothing: same total as the rubric without it."""
    secs, r, answers = case
    if len(secs) < 2:
        return
    na_first = {**answers, **{f"s0-{j}": Answer.na for j in range(len(secs[0][1]))}}
    rest = rubric(secs[1:])
    shifted = {f"s{i - 1}-{j}": na_first[f"s{i}-{j}"]
               for i in range(1, len(secs)) for j in range(len(secs[i][1]))}
    a, b = score(r, na_first).total, score(rest, shifted).total
    assert (a is None and b is None) or a == pytest.approx(b)
