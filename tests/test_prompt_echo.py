"""Prompt echoes (scoring/prompt_echo.py): a phrase copied from the hotword prompt goes to review.

Hand-made segments with the word probabilities a primed decoder gives: the copy is the one seen on
the Mandarin evaluation set ("您好、欢迎致电、号话务员、还有其他问题吗、" in a call that offered no
more help), the real phrases have the marks of real speech.
"""

from __future__ import annotations

from scoring.checks import Env
from scoring.rubric import Answer
from storage.segments import Segment, Word
from tests.scoring_calls import call
from tests.test_scoring_checks import answer

CATCH = Env(prompt_echo=True)
MORE_HELP = {"kind": "phrase", "speaker": "agent", "any": ["还有什么可以帮您", "还有其他问题吗"]}
SELF_ID = {"kind": "phrase", "speaker": "agent", "any": ["工号"]}


def said(start: float, words: list[tuple[str, float]]) -> Segment:
    """An agent segment of ``words`` (text, probability), 0.4 s each from ``start``."""
    ws = tuple(Word(round(start + 0.4 * k, 2), round(start + 0.4 * (k + 1), 2), w, p)
               for k, (w, p) in enumerate(words))
    return Segment(speaker="agent", start=start, end=ws[-1].end, text="".join(w for w, _ in words), words=ws,
                   avg_logprob=-0.48)


COPIED = said(0.0, [("您", 0.08), ("好、", 0.25), ("欢", 0.03), ("迎", 0.93), ("致", 0.51), ("电、", 0.45),
                    ("号", 0.0), ("话", 0.0), ("务", 0.29), ("员、", 0.46),
                    ("还有", 0.0), ("其", 0.01), ("他", 0.33), ("问题", 0.0), ("吗、", 0.0)])
CUSTOMER = Segment(speaker="customer", start=8.0, end=10.0, text="好的，谢谢", avg_logprob=-0.3)


def test_a_phrase_copied_from_the_prompt_goes_to_review_not_yes():
    res = answer(call([COPIED, CUSTOMER]), MORE_HELP, CATCH)
    assert res.answer is Answer.insufficient
    assert "hotword prompt" in res.reason


def test_without_the_catch_the_copied_phrase_passes():
    """The same transcript with the catch off (callqc's default): the copy is taken for the phrase."""
    assert answer(call([COPIED, CUSTOMER]), MORE_HELP).answer is Answer.yes


def test_a_real_phrase_beside_the_separator_still_passes():
    """A primed decoder writes "、" between real phrases too; heard with confidence, the phrase counts."""
    real = said(20.0, [("请", 0.63), ("问", 1.0), ("还有", 0.92), ("什么", 0.98), ("可以", 0.98), ("帮", 1.0),
                       ("您、", 1.0)])
    assert answer(call([real, CUSTOMER]), MORE_HELP, CATCH).answer is Answer.yes


def test_a_mumbled_phrase_outside_a_list_still_passes():
    """Low probability alone is no echo: 工号 at 0.04, said in a sentence without "、"."""
    mumbled = said(0.0, [("我是", 0.93), ("工", 0.01), ("号", 0.06), ("伊", 0.39), ("尔", 0.56), ("林,", 0.61)])
    assert answer(call([mumbled, CUSTOMER]), SELF_ID, CATCH).answer is Answer.yes


def test_a_sure_match_elsewhere_outweighs_a_copy():
    """The copy at the start is doubtful, the offer said clearly later is not: yes, shown by the sure one."""
    real = said(20.0, [("还有", 0.68), ("其", 1.0), ("他", 0.9), ("问题", 0.33), ("吗", 0.87)])
    res = answer(call([COPIED, CUSTOMER, real]), MORE_HELP, CATCH)
    assert res.answer is Answer.yes
    assert res.evidence[0].start >= 20.0
