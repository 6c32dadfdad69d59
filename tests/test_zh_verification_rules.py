"""The decision rules of keyword verification (scoring/verification.py) on hand-written cases.

The model is replaced by a table: each text's log-probability over the audio is written here, so
what is tested is the decision (length bands, the heard text and the rubric's rivals as competing
hypotheses, the absence rule) and how the phrase check answers with it, not the model. The real
model is exercised in tests/test_zh_verification.py (slow).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scoring import verification
from scoring.check_base import Env
from scoring.checks import forbidden, phrase
from scoring.conversation import CallFacts, Conversation
from scoring.metrics import compute
from scoring.rubric import Answer, ForbiddenCheck, PhraseCheck, parse_rubric
from storage.segments import Segment

MORE_HELP = PhraseCheck.model_validate({"kind": "phrase", "speaker": "agent", "any": ["还有什么可以帮您"]})
THANKS = PhraseCheck.model_validate({"kind": "phrase", "speaker": "agent", "any": ["感谢来电"]})


class Table:
    """Log-probabilities written by hand: ``heard`` (the transcript's text) scores ``heard_lp``; a
    text holding one of ``said`` (checked in order) scores that entry's value; any other text −100
    (the audio says nothing like it)."""

    def __init__(self, heard: str, heard_lp: float, said: dict[str, float] | None = None) -> None:
        self.heard, self.heard_lp, self.said = heard, heard_lp, said or {}
        self.asked: list[str] = []

    def __call__(self, channel: int, start: float, end: float, texts: Sequence[str]) -> list[float]:
        self.asked += list(texts)
        return [self.heard_lp if t == self.heard else next((lp for s, lp in self.said.items() if s in t), -100.0)
                for t in texts]


def call(text: str, logprob: float = -0.4) -> Conversation:
    seg = Segment(speaker="agent", start=1.0, end=5.0, text=text, channel=0, avg_logprob=logprob)
    reply = Segment(speaker="customer", start=6.0, end=7.0, text="没有了。", channel=1, avg_logprob=-0.3)
    return Conversation.build([seg, reply], CallFacts(duration_s=8.0, channels=frozenset({"agent", "customer"})))


def test_the_margin_a_phrase_needs_depends_on_its_length(monkeypatch):
    monkeypatch.setitem(verification.ACCEPT, "zh", ((5, -2.0), (4, 0.5)))
    assert verification.threshold("还有什么可以帮您") == -2.0
    assert verification.threshold("感谢来电") == 0.5
    assert verification.threshold("工号") is None  # shorter than every band: not tried


def test_a_mangled_phrase_the_audio_supports_is_verified(monkeypatch):
    monkeypatch.setitem(verification.ACCEPT, "zh", ((5, -2.0),))
    heard = "请问还有神某可已凳"
    conv = call(heard)
    scorer = Table(heard, -30.0, {"还有什么可以帮您": -28.0})  # the phrase put in: a little likelier
    assert phrase(MORE_HELP, conv, compute(conv), Env()).answer is Answer.no
    res = phrase(MORE_HELP, conv, compute(conv), Env(forced=scorer))
    assert res.answer is Answer.yes
    assert "forced decoding" in (res.evidence[0].note or "")
    assert heard in scorer.asked  # the heard text is the background hypothesis


def test_a_phrase_below_its_length_band_margin_is_not_verified(monkeypatch):
    heard = "请问还有神某可已凳"
    conv = call(heard)
    said = {"还有什么可以帮您": -30.0 - 5.0 * 8}  # 5 a character less likely than what was heard
    monkeypatch.setitem(verification.ACCEPT, "zh", ((5, -2.0),))
    assert phrase(MORE_HELP, conv, compute(conv), Env(forced=Table(heard, -30.0, said))).answer is Answer.no
    monkeypatch.setitem(verification.ACCEPT, "zh", ((5, -6.0),))
    assert phrase(MORE_HELP, conv, compute(conv), Env(forced=Table(heard, -30.0, said))).answer is Answer.yes


def test_a_rival_phrase_that_explains_the_audio_better_blocks_the_verification(monkeypatch):
    """请问有什么可以帮您 (the greeting's offer) where the closing's 还有什么可以帮您 is tried: the
    closing explains the audio better than the heard text, but the rival better still."""
    monkeypatch.setitem(verification.ACCEPT, "zh", ((5, -2.0),))
    heard = "请问有神某可已凳"
    conv = call(heard)
    said = {"还有什么可以帮您": -28.0, "请问有什么可以帮您": -20.0}
    alone = phrase(MORE_HELP, conv, compute(conv), Env(forced=Table(heard, -30.0, said)))
    assert alone.answer is Answer.yes  # without rivals the heard text is the only competitor
    table = Table(heard, -30.0, said)
    res = phrase(MORE_HELP, conv, compute(conv), Env(forced=table, rivals=("请问有什么可以帮您",)))
    assert any("请问有什么可以帮您" in t for t in table.asked)
    assert res.answer is Answer.no


def test_the_checks_own_phrases_and_unlike_ones_are_no_rivals():
    got = verification._rivals("还有什么可以帮您", ["还有什么可以帮您", "还有其他问题吗"],
                               ["还有其他问题吗", "请问有什么可以帮您", "祝您生活愉快", "工号"])
    assert got == ["请问有什么可以帮您"]


def test_the_rubric_gives_its_chinese_phrases_as_rivals():
    rubric = parse_rubric("""
id: t
version: 1
title: t
pass_mark: 80
sections:
  - id: s
    title: s
    weight: 1
    items:
      - {id: a, title: a, points: 1, check: {kind: phrase, speaker: agent, any: ["您好", "thank you"]}}
      - {id: b, title: b, points: 1, check: {kind: forbidden, speaker: agent, any: ["闭嘴"]}}
      - {id: c, title: c, points: 1, check: {kind: phrase, speaker: agent, all: ["再见"]}}
""", "t.yaml").rubric
    assert verification.rivals_of(rubric) == ("您好", "再见")


def test_an_absence_in_low_confidence_speech_stays_for_review_unless_the_audio_rules_it_out(monkeypatch):
    monkeypatch.setitem(verification.ACCEPT, "zh", ((4, 0.0),))
    heard = "我这边帮您查一下吧"
    conv = call(heard, logprob=-1.5)  # low confidence, nothing that matches 感谢来电
    monkeypatch.setitem(verification.REJECT, "zh", None)
    assert phrase(THANKS, conv, compute(conv), Env(forced=Table(heard, -30.0))).answer is Answer.insufficient
    monkeypatch.setitem(verification.REJECT, "zh", -2.0)
    res = phrase(THANKS, conv, compute(conv), Env(forced=Table(heard, -30.0)))
    assert res.answer is Answer.no
    assert "tried on the audio" in res.reason


@pytest.mark.parametrize("margin, expected", [(-1.0, Answer.insufficient), (-3.0, Answer.no)])
def test_the_absence_rule_needs_every_place_tried_to_be_unlikely(monkeypatch, margin, expected):
    monkeypatch.setitem(verification.ACCEPT, "zh", ((4, 0.0),))
    monkeypatch.setitem(verification.REJECT, "zh", -2.0)
    heard = "甘贤来店"
    conv = call(heard, logprob=-1.5)  # sounds like 感谢来电, heard in low confidence
    res = phrase(THANKS, conv, compute(conv), Env(forced=Table(heard, -20.0, {"感谢来电": -20.0 + margin * 4})))
    assert res.answer is expected


NO_ABUSE = ForbiddenCheck.model_validate({"kind": "forbidden", "speaker": "agent", "any": ["笨蛋"]})


def test_forbidden_doubt_from_low_confidence_is_cleared_only_when_the_audio_rules_the_words_out(monkeypatch):
    heard = "这个本天已经处理完了"
    conv = call(heard, logprob=-1.5)  # no hit, but low-confidence speech: in doubt
    monkeypatch.setitem(verification.CLEAR, "zh", None)
    assert forbidden(NO_ABUSE, conv, compute(conv), Env(forced=Table(heard, -30.0))).answer is Answer.insufficient
    monkeypatch.setitem(verification.CLEAR, "zh", -3.0)
    res = forbidden(NO_ABUSE, conv, compute(conv), Env(forced=Table(heard, -30.0)))
    assert res.answer is Answer.yes
    assert "tried on the audio" in res.reason
    # the decoder finds the insult plausible there: the doubt stays with an inspector, never a "no"
    likely = Table(heard, -30.0, {"笨蛋": -31.0})
    assert forbidden(NO_ABUSE, conv, compute(conv), Env(forced=likely)).answer is Answer.insufficient


def test_a_forbidden_sound_alike_hit_is_never_cleared_by_the_audio(monkeypatch):
    monkeypatch.setitem(verification.CLEAR, "zh", -3.0)
    heard = "你真是个笨旦这都不懂"  # 笨旦: a known ASR confusion of 笨蛋
    conv = call(heard, logprob=-1.5)
    assert forbidden(NO_ABUSE, conv, compute(conv), Env(forced=Table(heard, -30.0))).answer is Answer.insufficient
