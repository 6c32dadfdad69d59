"""Rubric-aware decoding: which words prime Whisper for a call (transcribe/vocabulary.py) and the
language a call's queue or number fixes (transcribe/language.py language_for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.settings import reset_settings
from transcribe.vocabulary import (
    DEFAULT_RUBRIC,
    MAX_CHARS,
    build,
    decoding_hotwords,
    echoes,
    prompt_run,
    rubric_phrases,
)

ZH_RUBRIC = Path(__file__).resolve().parents[1] / "scoring" / "rubrics" / "zh.yaml"


def test_the_mandarin_rubric_primes_its_greeting_and_closing_but_not_its_forbidden_words():
    zh = build(rubric_phrases(ZH_RUBRIC))["zh"]
    for phrase in ("很高兴为您服务", "还有什么可以帮您", "感谢您的来电"):
        assert phrase in zh
    assert "闭嘴" not in zh and "笨蛋" not in zh
    assert "、" in zh and "，" not in zh
    assert len(zh) <= MAX_CHARS["zh"]


def test_phrases_go_to_the_language_they_are_written_in():
    got = build([["thank you for calling", "您好"], ["goodbye", "再见"]])
    assert got == {"en": "thank you for calling, goodbye", "zh": "您好、再见"}


def test_every_check_gets_its_first_phrase_in_before_any_gets_a_second():
    lists = [[f"第{k}个很长的问候语句子{j}" for j in range(5)] for k in range(4)]
    zh = build(lists)["zh"].split("、")
    assert [p[:3] for p in zh[:4]] == ["第0个", "第1个", "第2个", "第3个"]


def test_operator_words_come_first_and_are_never_the_ones_cut():
    lists = [[f"很长很长的一句服务用语{k}" for k in range(20)]]
    zh = build(lists, ["光猫", "宽带"])["zh"]
    assert zh.startswith("光猫、宽带、") and len(zh) <= MAX_CHARS["zh"]


def test_single_characters_and_phrases_inside_others_are_left_out():
    assert build([["请", "还有什么可以帮您", "帮您"]]) == {"zh": "还有什么可以帮您"}


def test_an_unreadable_rubric_gives_no_hotwords_instead_of_failing(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("sections: [", encoding="utf-8")
    assert rubric_phrases(bad) == ()
    assert rubric_phrases(tmp_path / "missing.yaml") == ()


def test_settings_choose_the_rubric_and_add_operator_words(monkeypatch: pytest.MonkeyPatch):
    got = decoding_hotwords()  # on by default, for Mandarin only: English priming was never measured
    # the bundled default hands Mandarin calls to zh.yaml (languages_from), so they are primed with its phrases
    assert got["zh"] == build(rubric_phrases(ZH_RUBRIC))["zh"] and "en" not in got
    monkeypatch.setenv("CALLQC_ASR_RUBRIC_HOTWORDS_LANGUAGES", '["zh", "en"]')
    reset_settings()
    assert "zh" in decoding_hotwords() and "en" in decoding_hotwords()  # the bundled default rubric
    monkeypatch.delenv("CALLQC_ASR_RUBRIC_HOTWORDS_LANGUAGES")
    assert DEFAULT_RUBRIC.exists()
    monkeypatch.setenv("CALLQC_RUBRIC_PATH", str(ZH_RUBRIC))
    monkeypatch.setenv("CALLQC_ASR_HOTWORDS", '["光猫"]')
    reset_settings()
    got = decoding_hotwords()
    assert got["zh"].startswith("光猫、很高兴为您服务") and "en" not in got
    monkeypatch.setenv("CALLQC_ASR_RUBRIC_HOTWORDS", "false")
    reset_settings()
    assert decoding_hotwords() == {"zh": "光猫"}


def test_language_comes_from_the_queue_then_the_number_then_the_setting(monkeypatch: pytest.MonkeyPatch):
    from transcribe.language import language_for

    monkeypatch.setenv("CALLQC_ASR_LANGUAGE_BY_QUEUE", '{"uk-sales": "en"}')
    monkeypatch.setenv("CALLQC_ASR_LANGUAGE_BY_NUMBER", '{"400": "zh", "4008": "en", "+86": "zh"}')
    reset_settings()
    assert language_for("uk-sales", "4001234567") == "en"       # the queue first
    assert language_for(None, "400-123-4567", None) == "zh"      # the dialled hotline
    assert language_for(None, "4008123456") == "en"              # the longest prefix wins
    assert language_for(None, None, "+8613800138000") == "zh"    # then the caller's country code
    assert language_for(None, "12345") is None                   # nothing fits: detect


ZH_PROMPT = "很高兴为您服务、工号、还有什么可以帮您、感谢您的来电、您好、号话务员、还有其他问题吗、欢迎致电"


@pytest.mark.parametrize(("text", "run"), [
    ("您好、欢迎致电、号话务员、还有其他问题吗,感谢您的来电、号话务员", 6),  # the decoder fell into its prompt
    ("为您服务、工号、还有其他问题吗、感谢来电", 2),  # 为您服务, 感谢来电: not whole phrases of it
    ("您好、很高兴为您服务,我是七五号客服,请问有什么可以帮您", 2),          # a real greeting: two in a row
    ("感谢您的来电、再见", 1),
    ("", 0),
])
def test_prompt_run_counts_whole_prompt_phrases_in_a_row(text: str, run: int) -> None:
    assert prompt_run(text, ZH_PROMPT) == run


def test_a_copy_of_the_prompt_echoes_and_a_real_greeting_does_not() -> None:
    assert echoes("您好、欢迎致电、号话务员、还有其他问题吗、", ZH_PROMPT)
    assert not echoes("您好、很高兴为您服务,请问有什么可以帮您", ZH_PROMPT)
    assert not echoes("您好、欢迎致电、号话务员、还有其他问题吗、", None)  # not primed: nothing to copy
    assert echoes("Thank you for calling. Acme Broadband, goodbye", "Acme Broadband, thank you for calling, goodbye")
