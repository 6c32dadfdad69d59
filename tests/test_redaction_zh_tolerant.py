"""Mandarin numbers the ASR wrote as sound-alike characters (伊林 for 一零), read back by their pinyin
and kept only when an ID, card or mobile check passes (transcribe/redaction/sounds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.segments import Segment
from storage.settings import reset_settings
from tests.redaction_helpers import zh
from transcribe.redaction.detect import detect
from transcribe.redaction.number_rules import cn_id_ok, luhn_ok
from transcribe.redaction.pipeline import redact_transcript
from transcribe.redaction.rules import BadRules, Kind, load_rules
from transcribe.redaction.sounds import candidates
from transcribe.redaction.transcript import redact_segments

# 110105198507130023 (a valid ID number) as base might write it: 幺 as 要, 零 as 林, 五 as 我, 九 as 就,
# 八 as 八's 吧-sound 把, 七 as 起, 三 as 山, 二 as 而
ID_HEARD = ["好的", "是", "要要林", "要林我", "要就", "把我", "林起", "要山", "林林", "而山"]
# 13800138000 as 要山把林林要山把林林林 (山 shan and 林 lin only near 三 san and 零 ling), and as
# 要散把灵灵… (every character sounds exactly like its digit)
MOBILE_HEARD = ["是", "要", "山把", "林林", "要山", "把林林", "林"]
MOBILE_EXACT = ["是", "要", "散把", "灵灵", "要散", "把灵灵", "灵"]


def sounds(segments: list[Segment], **kw: int) -> list[tuple[Kind, int]]:
    return [(h.kind, h.digits) for h in detect(segments, load_rules(), **kw) if h.rule == "sounds"]


def test_the_inputs_are_what_they_claim() -> None:
    """The hand-written runs spell a valid ID number and a valid UnionPay card."""
    assert cn_id_ok("110105198507130023") and not cn_id_ok("110105198507130029")
    assert luhn_ok("6217001234567890015")


def test_characters_are_read_as_the_digits_they_sound_like() -> None:
    rules = load_rules()
    pairs = {"伊": "1", "衣": "1", "医": "1", "要": "1", "妖": "1", "而": "2", "儿": "2", "山": "3", "散": "3",
             "事": "4", "我": "5", "吴": "5", "留": "6", "其": "7", "期": "7", "把": "8", "爸": "8", "就": "9",
             "酒": "9", "久": "9", "林": "0", "灵": "0", "七": "7", "7": "7", "x": "X",
             "坦": "3", "喊": "3", "祝": "4", "阿": "8", "丢": "9", "有": "69"}
    for char, digits in pairs.items():
        assert all(d in candidates(char, rules) for d in digits), char
    for char in "你好谢谢请问您的不":
        assert candidates(char, rules) == "", char


def test_an_id_number_written_as_homophones_is_redacted_at_its_words() -> None:
    """With the ID cue said: the 18 characters go, 好的 and 是 stay; the hit's time runs from the start
    of the word that holds the first of them to the end of the word that holds the last."""
    segs = [zh("agent", 0, ["请", "提供", "身份证", "号码"], channel=0), zh("customer", 3, ID_HEARD)]
    hits = [h for h in detect(segs, load_rules()) if h.rule == "sounds"]
    [hit] = hits
    assert (hit.kind, hit.digits, hit.channel) == (Kind.id, 18, 1)
    words = segs[1].words
    assert hit.start <= words[2].start and hit.first_digit in (None, words[2].start)
    assert hit.end == words[-1].end
    assert redact_segments(segs, hits)[1].text == "好的是[ID:18]"


def test_a_wrong_character_breaks_the_check_and_nothing_is_taken_by_sound() -> None:
    """The same run with its last digit misheard (三 → 就): the check character fails, so the sound
    rule takes nothing (with no cue, the older rules do not either)."""
    wrong = [*ID_HEARD[:-1], "而就"]
    assert sounds([zh("agent", 0, ["您好"], channel=0), zh("customer", 3, wrong)]) == []
    assert detect([zh("agent", 0, ["您好"], channel=0), zh("customer", 3, wrong)], load_rules()) == []


def test_a_mobile_after_a_cue_heard_as_a_homophone_is_redacted() -> None:
    """手机 written as 收集 (shou ji): a phone cue by its sound. With no cue, a mobile read by sound
    needs ten characters that sound exactly like digits; 要山把林林… has four."""
    asked = [zh("agent", 0, ["请问", "您的", "收集", "是", "多少"], channel=0), zh("customer", 3, MOBILE_HEARD)]
    plain = [zh("agent", 0, ["您好"], channel=0), zh("customer", 3, MOBILE_HEARD)]
    assert sounds(asked) == [(Kind.phone, 11)]
    assert sounds(plain) == []
    assert redact_segments(asked, detect(asked, load_rules()))[1].text == "是[PHONE:11]"


def test_an_uncued_mobile_needs_the_set_number_of_exact_sounds() -> None:
    plain = [zh("agent", 0, ["您好"], channel=0), zh("customer", 3, MOBILE_EXACT)]
    assert sounds(plain) == [(Kind.phone, 11)]  # 11 exact ≥ 10
    assert sounds(plain, uncued_units=12) == []


def test_a_card_written_as_homophones_passes_luhn_and_is_redacted() -> None:
    heard = ["卡号", "是", "留而要", "起林林", "要而山", "四我留", "起把就", "林林要我"]
    assert sounds([zh("customer", 0, heard)]) == [(Kind.card, 19)]


def test_a_landline_written_as_homophones_after_its_cue_is_redacted() -> None:
    """0571 6918 2310 after 座机号码 as 林我起要 留就要把 而山要林."""
    segs = [zh("agent", 0, ["请", "留", "一个", "座机", "电话"], channel=0),
            zh("customer", 3, ["座机", "号码", "是", "林我起要", "留就要把", "而山要林", "谢谢"])]
    assert sounds(segs) == [(Kind.phone, 12)]
    assert redact_segments(segs, detect(segs, load_rules()))[1].text == "座机号码是[PHONE:12]谢谢"


def test_a_mobile_pattern_after_an_order_number_cue_is_left_alone() -> None:
    """订单号 is a look-alike cue: only checksummed types may be read by sound after it."""
    segs = [zh("agent", 0, ["请问", "订单号", "是", "多少"], channel=0), zh("customer", 3, MOBILE_HEARD)]
    assert sounds(segs) == []


@pytest.mark.parametrize("said", [
    ["我", "是", "一起", "去", "吧", "就是", "事实", "是", "吧", "我", "也", "是", "一起", "吃", "的"],
    ["就是", "我", "一起", "把", "事", "期", "以", "就", "是", "我", "一直", "以", "为"],
    ["我", "想", "问", "一下", "我", "的", "卡", "什么", "时候", "能", "用"],
    ["我的", "手机", "是", "苹果", "的", "一直", "用", "了", "两年", "多", "了"],
    ["医生", "说", "要", "我", "吃", "药", "就", "是", "一日", "三次", "是", "吧"],
])
def test_ordinary_sentences_full_of_digit_sounds_are_not_numbers(said: list[str]) -> None:
    """Look-alikes: sentences dense in sound-alike characters, with and without a cue before them."""
    for ask in (["您好"], ["请问", "您的", "手机", "号码"], ["请", "提供", "身份证", "号码"]):
        assert sounds([zh("agent", 0, ask, channel=0), zh("customer", 4, said)]) == [], (ask, said)


def test_the_uncued_setting_reaches_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    segs = [zh("agent", 0, ["您好"], channel=0), zh("customer", 3, MOBILE_EXACT)]
    monkeypatch.setenv("CALLQC_REDACTION_SOUNDALIKE_UNCUED_UNITS", "12")
    reset_settings()
    assert [h.rule for h in redact_transcript(segs).hits] == []
    monkeypatch.delenv("CALLQC_REDACTION_SOUNDALIKE_UNCUED_UNITS")
    reset_settings()
    assert [h.rule for h in redact_transcript(segs).hits] == ["sounds"]


def test_a_sound_table_with_a_bad_digit_or_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zh.yaml").write_text("soundalike_syllables:\n  yi: [one]\n", encoding="utf-8")
    with pytest.raises(BadRules, match="not a digit"):
        load_rules(tmp_path)
    (tmp_path / "zh.yaml").write_text("cues_by_sound:\n  passport: [hu zhao]\n", encoding="utf-8")
    load_rules.cache_clear()
    with pytest.raises(BadRules, match="passport"):
        load_rules(tmp_path)
    load_rules.cache_clear()
