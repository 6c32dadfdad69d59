"""Conversation metrics on a worked example: talk time, non-talk, silence, overtalk, pace, ratio."""

from __future__ import annotations

from dataclasses import replace

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


def test_a_pci_pause_is_neither_silence_nor_non_talk_time():
    """A 30 s pause (card number read out, written as silence) between two turns is not dead air."""
    segs = [seg("agent", 0, 10, "please read me the card number"), seg("customer", 50, 55, "done")]
    plain = compute(call(segs, duration=60))
    assert plain.longest_silence_s == pytest.approx(40) and plain.non_talk_s == pytest.approx(45)
    conv = call(segs, duration=60)
    paused = compute(type(conv)(conv.segments, replace(conv.facts, paused=((15.0, 45.0),))))
    assert paused.paused_s == pytest.approx(30)
    assert paused.longest_silence_s == pytest.approx(5) and paused.longest_silence_at == (10, 15)
    assert paused.non_talk_s == pytest.approx(15)  # 10-15, 45-50 and the 5 s tail
    assert paused.duration_s == pytest.approx(60)


def test_a_pause_is_not_taken_for_a_hold():
    """Without PBX hold events, long silences count as holds; a PCI pause never does."""
    from scoring.checks import holds

    segs = [seg("agent", 0, 10, "one moment"), seg("customer", 80, 85, "ok")]
    conv = call(segs, duration=90)
    assert holds(conv, 30) == [(10, 80)]
    paused = type(conv)(conv.segments, replace(conv.facts, paused=((12.0, 78.0),)))
    assert holds(paused, 30) == []
