"""Mandarin phrase matching by sound and by number (scoring/matching.py, phonetic.py, variants.py).

Hand-written pairs: homophone and near-homophone ASR errors that must still match, and
near-misses that must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.autoscore import evaluate
from scoring.checks import Env
from scoring.matching import Unit, find, normalise
from scoring.phonetic import similarity, sounds, toneless_similarity
from scoring.rubric import Answer, load_rubric
from scoring.variants import WordForms, expand, load_variants
from tests.scoring_calls import call, seg
from tests.test_scoring_checks import answer


def _stream(text: str) -> list[Unit]:
    from scoring.conversation import units

    return normalise([Unit(u, float(k), float(k) + 0.9, 0) for k, u in enumerate(units(text))])


def best(phrase: str, heard: str, fuzzy: float = 0.85):
    found = find(phrase, _stream(heard), fuzzy=fuzzy)
    return found[0] if found else None


@pytest.mark.parametrize(("phrase", "heard"), [
    ("很高兴为您服务", "很高现为您服务"),          # 兴 xing4 heard as 现 xian4
    ("很高兴为您服务", "恨高兴为您服务"),          # homophone, other tone
    ("还有什么可以帮您", "还有什么可以唤您"),        # 帮 → 唤
    ("感谢您的来电", "感谢您的来店"),              # 电 → 店: same sound
    ("请问有什么可以帮您", "请问有什么可以帮您"),
])
def test_sound_alikes_of_long_phrases_match(phrase, heard):
    m = best(phrase, f"好的，{heard}。")
    assert m is not None, sounds(heard)
    assert m.heard == heard


def test_homophone_of_a_short_phrase_matches_by_sound_with_evidence():
    """再见 heard as 在见 (same syllables, same tones) is found, and the evidence says how."""
    m = best("再见", "好的在见")
    assert m is not None and m.by == "sound" and m.heard == "在见"
    assert m.sound_similarity == 1.0 and m.text_similarity == 0.5
    assert "在见" in m.describe() and "pinyin 100%" in m.describe()


@pytest.mark.parametrize(("phrase", "heard"), [
    ("笨蛋", "这个本单已经处理了"),              # ben4 dan4 vs ben3 dan1 "this order": tones differ
    ("闭嘴", "比最近的网点近"),                  # bi4 zui3 vs bi3 zui4
    ("您好", "你好"),                          # nin2 vs ni3: both are listed where both are fine
    ("还有什么可以帮您", "还有什么要帮忙"),        # a different sentence
    ("很高兴为您服务", "很高兴认识您"),
    ("神经病", "神经科"),
    ("感谢您的来电", "感谢您的耐心"),
])
def test_near_miss_homophones_do_not_match(phrase, heard):
    assert best(phrase, heard) is None


def test_tones_count_but_a_tone_error_costs_less_than_another_syllable():
    a = sounds("很高兴为您服务")
    assert similarity(a, sounds("恨高兴为您服务")) > similarity(a, sounds("很高现为您服务")) > \
        similarity(a, sounds("很高看为您服务"))
    assert toneless_similarity(sounds("笨蛋"), sounds("本单")) == 1.0
    assert similarity(sounds("笨蛋"), sounds("本单")) < 1.0


@pytest.mark.parametrize(("phrase", "heard"), [
    ("三到五个工作日", "3到5个工作日"),
    ("3到5个工作日", "三到五个工作日"),
    ("24小时内", "二十四小时内"),
])
def test_numbers_match_whichever_way_they_were_written(phrase, heard):
    m = best(phrase, heard)
    assert m is not None and m.by == "text" and m.similarity == 1.0


def test_a_number_match_keeps_the_time_of_its_words():
    stream = _stream("好的二十四小时内回复")  # units 好 的 二 十 四 小 时 内 回 复, one second each
    m = find("24小时", stream, fuzzy=0.85)[0]
    assert m.start == 2.0 and m.end == 6.9


def test_english_is_not_matched_by_sound():
    assert best("hello", "yellow") is None


# --- forbidden words: variants certain, confusions and sound-alikes uncertain ---------------------
FORBID = {"kind": "forbidden", "speaker": "agent", "any": ["闭嘴", "笨蛋"]}


def zh_call(agent_text: str):
    return call([seg("agent", 0.5, 6.0, agent_text), seg("customer", 6.5, 9.0, "我的宽带坏了")])


def test_a_variant_of_a_forbidden_word_answers_no():
    res = answer(zh_call("你给我闭嘴听我说"), FORBID)
    assert res.answer is Answer.no
    res = answer(zh_call("你这个蠢蛋"), FORBID)
    assert res.answer is Answer.no and "笨蛋" in res.evidence[0].note


def test_a_known_asr_confusion_goes_to_review_not_no():
    res = answer(zh_call("你必最吧我在说话"), FORBID)
    assert res.answer is Answer.insufficient
    assert res.evidence[0].kind == "unsure" and "必最" in res.evidence[0].note and "闭嘴" in res.evidence[0].note


def test_a_homophone_of_a_forbidden_word_goes_to_review():
    """闭嘴 written 避嘴 (same sound, not in the confusion list): found by sound, uncertain."""
    res = answer(zh_call("你避嘴吧"), FORBID)
    assert res.answer is Answer.insufficient
    assert "pinyin 100%" in res.evidence[0].note


def test_an_innocent_near_miss_of_a_forbidden_word_is_yes():
    res = answer(zh_call("这个本单已经处理了，比最近的网点方便"), FORBID)
    assert res.answer is Answer.yes


def test_variants_come_from_data_an_operator_can_extend(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("笨蛋:\n  variants: [傻瓜]\n  confusions: [笨单]\n", encoding="utf-8")
    table = load_variants(path)
    assert table["笨蛋"] == WordForms(("傻瓜",), ("笨单",))
    assert answer(zh_call("你真是个傻瓜"), FORBID, Env(variants=table)).answer is Answer.no
    assert answer(zh_call("你真是个傻瓜"), FORBID, Env(variants={})).answer is Answer.yes
    certain, unsure = expand(["笨蛋"], table)
    assert certain == {"笨蛋": "笨蛋", "傻瓜": "笨蛋"} and unsure == {"笨单": "笨蛋"}


def test_a_malformed_variants_file_is_one_clear_error(tmp_path):
    from scoring.variants import VariantsInvalid

    path = tmp_path / "v.yaml"
    path.write_text("笨蛋: [傻瓜]\n", encoding="utf-8")
    with pytest.raises(VariantsInvalid, match="variants"):
        load_variants(path)


def test_greeting_said_with_a_homophone_error_is_yes_with_what_was_heard():
    check = {"kind": "phrase", "speaker": "agent", "within_s": 20, "any": ["很高兴为您服务"]}
    res = answer(zh_call("您好，很高现为您服务"), check)
    assert res.answer is Answer.yes
    assert "很高现为您服务" in res.evidence[0].note


def test_a_short_phrase_to_say_matches_in_other_tones_but_a_forbidden_word_does_not():
    """工号 (gong1 hao4) heard as 恭好 (gong1 hao3) still counts as giving the agent number; 本单
    (ben3 dan1) is still not 笨蛋 (ben4 dan4)."""
    say = {"kind": "phrase", "speaker": "agent", "within_s": 30, "any": ["工号"]}
    res = answer(zh_call("您好，恭好三七五为您服务"), say)
    assert res.answer is Answer.yes and "pinyin without tones" in res.evidence[0].note
    assert answer(zh_call("这个本单已经处理了"), FORBID).answer is Answer.yes
    m = find("工号", _stream("恭好三七五"), fuzzy=0.85)
    assert m == []  # find() alone keeps tones for short phrases
    assert find("工号", _stream("恭好三七五"), fuzzy=0.85, toneless_short=True)[0].heard == "恭好"


def test_an_early_offer_of_more_help_is_not_taken_for_the_greeting():
    """请问还有什么可以帮您 (more help) is 95 % alike to the greeting 请问有什么可以帮您 by characters, but
    its words are another item's phrase: the greeting was not said. The real greeting still counts."""
    zh = load_rubric(Path(__file__).resolve().parents[1] / "scoring" / "rubrics" / "zh.yaml")
    segs = [seg("agent", 0.5, 4.0, "喂？"), seg("customer", 4.5, 8.0, "我的宽带坏了"),
            seg("agent", 8.5, 12.0, "请问还有什么可以帮您？"), seg("customer", 12.5, 14.0, "没有了")]
    assert evaluate(zh, call(segs)).item("greeting").result.answer is Answer.no
    segs[2] = seg("agent", 8.5, 12.0, "请问有什么可以帮您？")
    assert evaluate(zh, call(segs)).item("greeting").result.answer is Answer.yes


def test_a_forbidden_word_that_only_sounds_somewhat_alike_goes_to_review():
    """你有病吧 written 你有平坦 (pinyin 88 % of 你有病): inside the review band, so an inspector hears
    it; the innocent 本单 and 比最近 stay clear, and the band never answers "no"."""
    check = {"kind": "forbidden", "speaker": "agent", "any": ["你有病", "闭嘴", "笨蛋"]}
    res = answer(zh_call("你有平坦，我多少变了"), check)
    assert res.answer is Answer.insufficient and "你有病" in res.reason
    assert answer(zh_call("这个本单已经处理了，比最近的网点方便"), check).answer is Answer.yes
    assert answer(zh_call("你必罪，听我说完"), check).answer is Answer.insufficient


def test_swap_costs_are_each_wanted_and_heard_syllable_costed_alone():
    from scoring.phonetic import swap_costs, syllable_cost

    want = sounds("工号是三")
    heard = [*sounds("恭好是三五"), None, None, "san1", None]
    for tones in (True, False):
        assert swap_costs(want, heard, tones=tones).tolist() == [
            [syllable_cost(w, h, tones=tones) for h in heard] for w in want]


def test_a_short_phrase_found_by_its_characters_keeps_its_sound_similarity():
    [m] = find("工号", _stream("我的工号是八号"), fuzzy=0.85, toneless_short=True)
    assert (m.by, m.text_similarity, m.sound_similarity, m.toneless) == ("text", 1.0, 1.0, True)


def test_chinese_phrases_are_not_read_as_pinyin_against_speech_without_chinese_or_digits():
    """An English call against the rubric's Chinese forbidden words: nothing there can sound like them,
    and reading them would import pypinyin at the worker's first call."""
    from scoring.phonetic import _pinyin_of

    stream = normalise([Unit(w, float(k), k + 0.9, 0) for k, w in enumerate(("you", "are", "a", "fool", "shut", "up"))])
    before = _pinyin_of.cache_info()
    assert find("闭嘴", stream, fuzzy=0.8, sound_floor=0.85) == []
    assert find("你有病", stream, fuzzy=0.8, toneless_short=True) == []
    assert _pinyin_of.cache_info() == before


def test_a_homophone_amid_english_is_still_found_where_no_place_can_match_by_text():
    """再 is nowhere in the stream, so no place can match 再见 by its characters: only the places its
    sound may match are visited, and the homophone among English words is one of them."""
    stream = normalise([Unit(w, float(k), k + 0.9, 0) for k, w in enumerate(
        ("thank", "you", "for", "calling", "在", "见", "and", "3", "5"))])
    [m] = find("再见", stream, fuzzy=0.85)
    assert (m.by, m.heard, m.first, m.sound_similarity) == ("sound", "在见", 4, 1.0)
