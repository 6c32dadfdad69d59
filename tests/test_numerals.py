"""Chinese numerals ↔ digits on hand-written pairs (scoring/numerals.py)."""

from __future__ import annotations

import pytest

from scoring.numerals import number_spans, to_chinese, to_digits


@pytest.mark.parametrize(("spoken", "digits"), [
    ("四五七二一九", "457219"),           # an account number read digit by digit
    ("三到五", "3到5"),
    ("三到五个工作日", "3到5个工作日"),
    ("幺三八零零幺三八零零零", "13800138000"),  # 幺 = 1 over the phone
    ("两个小时", "2个小时"),              # 两 = 2
    ("二十四小时内", "24小时内"),
    ("十五分钟", "15分钟"),
    ("十分钟", "10分钟"),
    ("一百零五元", "105元"),
    ("三百五", "350"),                   # spoken shortcut: 三百五 = 350
    ("两千三", "2300"),
    ("两万五", "25000"),
    ("一万零五", "10005"),
    ("一千零二十", "1020"),
    ("一万三千", "13000"),
    ("一亿两千万", "120000000"),
    ("九十九", "99"),
    ("五十分", "50分"),
    ("第一", "第1"),
    ("账号是零零七", "账号是007"),
])
def test_chinese_numbers_become_digits(spoken, digits):
    assert to_digits(spoken) == digits


@pytest.mark.parametrize("text", [
    "请稍等一下", "一样的", "我们一起看看", "一定帮您处理", "十分感谢", "千万别挂", "万一有问题", "统一处理",
    "百", "万万不可", "乱七八糟",
])
def test_words_built_on_numeral_characters_are_not_numbers(text):
    assert to_digits(text) == text


def test_digits_already_written_are_left_as_they_are():
    assert to_digits("账号457219，3到5天") == "账号457219，3到5天"


@pytest.mark.parametrize(("digits", "read"), [
    ("457219", "四五七二一九"), ("3到5", "三到五"), ("账号007", "账号零零七"),
])
def test_digits_read_out_as_chinese_digits(digits, read):
    assert to_chinese(digits) == read


def test_both_ways_meet_in_the_same_form():
    """Whichever way ASR wrote a number, the two texts normalise to the same string."""
    assert to_digits(to_chinese("457219")) == to_digits("四五七二一九") == "457219"
    assert to_digits("三到五") == to_digits("3到5")


def test_number_spans_point_at_the_number_for_redaction():
    text = "您的卡号是六二二二零二，请在三天内还款"
    spans = number_spans(text)
    assert [(text[s.start:s.end], s.digits) for s in spans] == [("六二二二零二", "622202"), ("三", "3")]
