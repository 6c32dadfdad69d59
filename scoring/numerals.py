"""Chinese numerals and Arabic digits, normalised both ways (matching, CER, and later redaction).

ASR writes a spoken number either way: 四五七二一九 or 457219, 三到五 or 3到5, 二十四小时 or 24小时.
:func:`to_digits` turns every Chinese number into digits, so two texts that say the same number
compare equal; :func:`to_chinese` reads digits out as Chinese digits (one character each, as
account and phone numbers are read). Nothing here knows about transcripts or storage, so redaction
can find numbers with :func:`number_spans` on any text.

Two ways of saying numbers are handled:

- **digit strings** (account, phone and card numbers): one character per digit, 幺 = 1 (as read
  over the phone), 两 = 2, 零/〇 = 0: 幺三八 → 138;
- **positional numbers** (amounts, counts, durations): 十 百 千 万 亿 as place values, including
  the spoken shortcuts 十五 = 15, 三百五 = 350, 两万五 = 25000, 一百零五 = 105.

Words that contain a numeral character but are not numbers (一下, 一样, 统一, 十分, 千万 …) are
left alone (:data:`NOT_NUMBERS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGIT = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
         "八": 8, "九": 9}
SMALL_UNIT = {"十": 10, "百": 100, "千": 1000}
BIG_UNIT = {"万": 10_000, "亿": 100_000_000}
READ = "零一二三四五六七八九"

# Words built on a numeral character that do not say a number; matched before numbers are looked for.
NOT_NUMBERS = (
    "一下", "一样", "一定", "一起", "一直", "一般", "一些", "一点", "一切", "一旦", "一会", "一边", "一致",
    "一律", "一再", "一向", "一同", "一概", "一番", "一时", "一家", "一路", "一心", "一生", "一体",
    "统一", "唯一", "万一", "同一", "之一", "第一时间", "百分之百", "一模一样",
    "三心二意", "乱七八糟", "一五一十", "七上八下", "不三不四", "四面八方", "五花八门", "千方百计",
    "一言为定", "一路顺风", "万事如意", "两口子",
)
_NUMERAL_CHARS = "".join(DIGIT) + "".join(SMALL_UNIT) + "".join(BIG_UNIT)
_RUN = re.compile(f"[{_NUMERAL_CHARS}]+")
# 十分 is "very" (十分感谢) unless minutes follow (十分钟); 千万 alone is "by all means" and is refused
# by :func:`_value` (a number cannot start with 千), while 两千万 is a number.
_NOT = re.compile("|".join([*sorted(map(re.escape, NOT_NUMBERS), key=len, reverse=True),
                            f"(?<![{_NUMERAL_CHARS}])十分(?!钟)"]))


@dataclass(frozen=True)
class NumberSpan:
    start: int  # character offsets into the text, end exclusive
    end: int
    digits: str  # the number as Arabic digits


def _small(part: str) -> int | None:
    """Value of a number below 10 000 written with 十百千 (None: not a well-formed number)."""
    total, digit, last_unit, zero = 0, None, 10_000, False
    for ch in part:
        if ch in "零〇":
            zero = True  # a place skipped (一百零五 = 105): the next digit is units, not a shortcut
            continue
        if ch in DIGIT:
            if digit is not None:
                return None  # two digits in a row inside a positional number: not one
            digit = DIGIT[ch]
        else:
            unit = SMALL_UNIT[ch]
            if unit >= last_unit:
                return None
            if digit is None and not (unit == 10 and total == 0):
                return None  # 十五 = 15, but 百五 is not a number
            total += (1 if digit is None else digit) * unit
            digit, last_unit, zero = None, unit, False
    if digit is not None:
        if last_unit in (100, 1000) and not zero:
            total += digit * (last_unit // 10)  # 三百五 = 350, 两千三 = 2300 (spoken shortcut)
        else:
            total += digit
    return total


def _positional(run: str) -> int | None:
    total, rest = 0, run
    for unit_ch, unit in sorted(BIG_UNIT.items(), key=lambda kv: -kv[1]):
        if unit_ch in rest:
            head, _, rest = rest.partition(unit_ch)
            if unit_ch in rest or not head:
                return None
            value = _small(head)
            if value is None:
                return None
            total += value * unit
    if rest:
        tail: int | None
        if total and len(rest) == 1 and rest in DIGIT and run[-2] in BIG_UNIT:
            tail = DIGIT[rest] * (1000 if run[-2] == "万" else 10_000_000)  # 两万五 = 25000
        else:
            tail = _small(rest) if rest.strip("零〇") else 0
        if tail is None:
            return None
        total += tail
    return total


def _value(run: str) -> str | None:
    """A run of numeral characters as digits, or None when it is not one number."""
    if not any(ch in SMALL_UNIT or ch in BIG_UNIT for ch in run):
        return "".join(str(DIGIT[ch]) for ch in run)
    if run[0] in SMALL_UNIT and run[0] != "十" or run[0] in BIG_UNIT:
        return None  # 百 or 万 alone, 千万 (by all means)
    value = _positional(run)
    return None if value is None else str(value)


def number_spans(text: str) -> list[NumberSpan]:
    """Every Chinese number in ``text`` (Arabic digits are already numbers and are not listed)."""
    masked = _NOT.sub(lambda m: "\0" * len(m.group()), text)
    out: list[NumberSpan] = []
    for m in _RUN.finditer(masked):
        digits = _value(m.group())
        if digits is not None:
            out.append(NumberSpan(m.start(), m.end(), digits))
    return out


def to_digits(text: str) -> str:
    """``text`` with every Chinese number written in digits: 三到五 → 3到5, 二十四小时 → 24小时."""
    parts, at = [], 0
    for span in number_spans(text):
        parts += [text[at:span.start], span.digits]
        at = span.end
    return "".join(parts) + text[at:]


def to_chinese(text: str) -> str:
    """Arabic digits read out one by one as Chinese digits: 457219 → 四五七二一九 (3到5 → 三到五)."""
    return re.sub(r"[0-9]", lambda m: READ[int(m.group())], text)
