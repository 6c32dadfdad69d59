"""Conversation metrics on a worked example: talk time, non-talk, silence, overtalk, pace, ratio."""

from __future__ import annotations

import pytest

from scoring.metrics import compute
from tests.scoring_calls import call, seg


def test_metrics_worked_example():
    """Agent 0-10 and 12-20, customer 8-13 and 30-35 in a 40 s call."""
    conv = call([seg("agent", 0, 10, "one two three four five six seven eight nine ten"),
                 seg("agent", 12, 20, "a b c d"),
                 seg("customer", 8, 13, "x y z"),
                 seg("customer", 30, 35, "p q")], duration=40)
    m = compute(conv)
    assert m.talk_s == {"agent": pytest.approx(18), "customer": pytest.approx(10)}
    assert m.speech_s == pytest.approx(25)  # union 0-20 and 30-35
    assert m.non_talk_s == pytest.approx(15)  # includes the 5 s tail
    assert m.longest_silence_s == pytest.approx(10) and m.longest_silence_at == (20, 30)
    assert m.overtalk_count == 2 and m.overtalk_s == pytest.approx(3)  # 8-10 and 12-13
    assert m.rate["agent"].per_minute == pytest.approx(14 / 18 * 60) and m.rate["agent"].unit == "wpm"
    assert m.talk_ratio == pytest.approx(18 / 28)


def test_chinese_pace_counts_characters():
    """Mostly-Chinese speech is measured in characters a minute."""
    m = compute(call([seg("agent", 0, 6, "您好请问有什么可以帮您"), seg("customer", 7, 8, "你好")]))
    assert m.rate["agent"].unit == "cpm" and m.rate["agent"].per_minute == pytest.approx(110)


def test_mono_call_has_no_overtalk_or_ratio():
    """Without one channel per speaker, overtalk and talk ratio are not measured."""
    m = compute(call([seg("unknown", 0, 5, "hello there")], stereo=False))
    assert m.overtalk_count == 0 and m.talk_ratio is None and m.talk_s == {"unknown": pytest.approx(5)}
