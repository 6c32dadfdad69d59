"""Numbers as people say them and as Whisper writes them, turned into digit strings.

Callers read card, ID and phone numbers digit by digit ("four one one one", "幺三八"), in groups
("double five", "triple seven", "twenty one", "三百零五") or Whisper writes them as digits
("4111 1111", "138-0013-8000"). :func:`number_tokens` reads one word (as Whisper gives it: a
Latin word, a few Chinese characters, or digits with punctuation) and returns the numeric pieces in
it, each with the digits it stands for and where in the word's text it sits, so a hit can be cut
out of the word again. Words that only *modify* the next number ("double", "triple") are returned
as a pending multiplier.

This parser lives below scoring on purpose (transcription redacts before it stores); scoring has
its own Chinese numeral reader for matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EN_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "naught": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
EN_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
           "eighty": 80, "ninety": 90}
EN_REPEAT = {"double": 2, "triple": 3, "treble": 3}
# Words the ASR writes for digits it heard ("six to eight", "I've won for nine"): digits only next
# to other numbers, like "oh"/"o" ("oh, I see" is not a digit)
EN_HOMOPHONES = {"to": "2", "too": "2", "for": "4", "won": "1", "ate": "8"}
EN_WEAK = frozenset({"oh", "o", *EN_HOMOPHONES})

ZH_DIGITS = {"零": "0", "〇": "0", "○": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2",
             "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_AMOUNT = frozenset("元块毛角分岁个号点%")  # a Chinese numeral followed by these is not a reference
_FULLWIDTH = str.maketrans("０１２３４５６７８９ｘＸ＋", "0123456789xX+")

# A Chinese numeral run, digits and 十/百/千 forms mixed ("幺三八", "三百零五", "十二")
_ZH_RUN = re.compile("[" + "".join(ZH_DIGITS) + "".join(ZH_UNITS) + "]+")
# Digits as written, with the separators people and Whisper put between groups
_DIGIT_RUN = re.compile(r"\+?\d+(?:[ \-–]\d+)*")
# Amounts, decimals and times: masked before digits are read
_NOT_A_REFERENCE = re.compile(r"[$¥€£]\s?\d[\d,]*(?:\.\d+)?"
                              r"|\d{1,2}:\d{2}(?::\d{2})?"
                              r"|\d+\s?(?:%|元|块|美元|dollars?|yuan|percent)")
_LATIN = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


@dataclass(frozen=True)
class NumPiece:
    """A numeric stretch inside one word's text."""

    digits: str  # "0"-"9", plus "X" for an ID check character
    lo: int  # character range inside the word's text
    hi: int
    plus: bool = False  # written or said with a leading "+" / "plus"
    grouped: bool = False  # written with separators ("4111 1111", "138-0013")
    weak: bool = False  # only a number next to other numbers ("oh")
    repeat: int = 0  # "double"/"triple": repeat the next digit this many times
    tens: bool = False  # "twenty": a unit said next fills its last place ("twenty one" → 21)
    soft: bool = False  # "9.21", "1,234": maybe digits, maybe an amount


def zh_numeral(text: str) -> str:
    """A Chinese numeral run as digits: digit by digit ("幺三八" → "138"), or by value when it has
    十/百/千 ("三百零五" → "305", "十二" → "12", "一百二" → "120"); a digit-by-digit head before a
    valued tail is kept as digits ("幺三八十" → "1380")."""
    if not any(c in ZH_UNITS for c in text):
        return "".join(ZH_DIGITS[c] for c in text)
    out, total, cur, last_unit, zero = "", 0, None, 0, False
    for c in text:
        if c in ZH_DIGITS:
            d = int(ZH_DIGITS[c])
            if not last_unit:  # still in the digit-by-digit head
                if cur is not None:
                    out += str(cur)
                cur = d
                continue
            if d == 0:
                zero = True  # 零 marks a skipped place: 三百零五
                continue
            if cur is not None:  # two digits in a row after a unit: a new number starts
                out += str(total + cur)
                total, last_unit, zero = 0, 0, False
            cur = d
        else:
            unit = ZH_UNITS[c]
            if last_unit and unit >= last_unit:  # 十二十三: a second number
                out += str(total + (cur or 0))
                total, cur, zero = 0, None, False
            total += (cur if cur is not None else 1) * unit
            cur, last_unit, zero = None, unit, False
    if cur is not None:
        total += cur * (last_unit // 10 if last_unit >= 100 and not zero else 1)
    if last_unit:
        out += str(total)
    return out


def _en_word(lower: str) -> NumPiece | None:
    if lower in EN_HOMOPHONES:
        return NumPiece(EN_HOMOPHONES[lower], 0, 0, weak=True)
    if lower in EN_UNITS:
        return NumPiece(EN_UNITS[lower], 0, 0, weak=lower in EN_WEAK)
    if lower in EN_TEENS:
        return NumPiece(str(EN_TEENS[lower]), 0, 0)
    if lower in EN_TENS:
        return NumPiece(str(EN_TENS[lower]), 0, 0, tens=True)
    if lower in EN_REPEAT:
        return NumPiece("", 0, 0, repeat=EN_REPEAT[lower])
    if "-" in lower:  # "twenty-one"
        head, _, tail = lower.partition("-")
        if head in EN_TENS and tail in EN_UNITS and tail not in EN_WEAK and tail != "zero":
            return NumPiece(str(EN_TENS[head] + int(EN_UNITS[tail])), 0, 0)
    return None


# Whisper writes "nine two one" as "9.21" and "one two three four" as "1,234" now and then: such
# pieces are soft, digits only where a cue asks for a number (see detect.py and runs.py)
_SOFT = re.compile(r"\d+(?:[.,]\d+)+")


def _mask_amounts(norm: str) -> str:
    return _NOT_A_REFERENCE.sub(lambda m: " " * len(m.group()), norm)


def number_tokens(text: str) -> list[NumPiece]:
    """The numeric pieces of one word's text, in order (see module docstring)."""
    norm = text.translate(_FULLWIDTH)
    masked = _mask_amounts(norm)
    pieces: list[NumPiece] = []
    for m in _SOFT.finditer(masked):
        pieces.append(NumPiece(re.sub(r"\D", "", m.group()), m.start(), m.end(), weak=True, soft=True))
    masked = _SOFT.sub(lambda m: " " * len(m.group()), masked)
    for m in _DIGIT_RUN.finditer(masked):
        raw = m.group()
        digits = re.sub(r"\D", "", raw)
        lo, hi = m.start(), m.end()
        plus = raw.startswith("+")
        if len(digits) == 17 and masked[hi:hi + 1] in ("X", "x"):
            digits += "X"  # an ID number's check character written straight after its digits
            hi += 1
        pieces.append(NumPiece(digits, lo, hi, plus=plus, grouped=bool(re.search(r"[ \-–]", raw))))
    for m in _ZH_RUN.finditer(masked):
        if masked[m.end():m.end() + 1] in _ZH_AMOUNT or masked[m.start() - 1:m.start()] == "点":
            continue  # 三百五十块, 三点五: an amount or a time, not a reference number
        pieces.append(NumPiece(zh_numeral(m.group()), m.start(), m.end()))
    taken = [(p.lo, p.hi) for p in pieces]
    for m in _LATIN.finditer(masked):
        if any(lo < m.end() and m.start() < hi for lo, hi in taken):
            continue
        lower = m.group().lower()
        piece = _en_word(lower)
        if piece is None and "-" in lower:  # "one-one", "four-one-one"
            at = m.start()
            for part in m.group().split("-"):
                sub = _en_word(part.lower())
                if sub is not None:
                    pieces.append(NumPiece(sub.digits, at, at + len(part), weak=sub.weak, repeat=sub.repeat,
                                           tens=sub.tens))
                at += len(part) + 1
            continue
        if piece is not None:
            pieces.append(NumPiece(piece.digits, m.start(), m.end(), weak=piece.weak, repeat=piece.repeat,
                                   tens=piece.tens))
        elif lower == "plus":
            pieces.append(NumPiece("", m.start(), m.end(), plus=True))
        elif lower in ("x", "ex"):
            pieces.append(NumPiece("X", m.start(), m.end(), weak=True))
    for m in re.finditer("叉", masked):
        pieces.append(NumPiece("X", m.start(), m.end(), weak=True))
    pieces.sort(key=lambda p: p.lo)
    return pieces


def expand(pieces: list[NumPiece]) -> str:
    """Digits of a sequence of pieces, applying "double"/"triple" to the digit that follows
    (tests and simple callers; the detector applies them while it walks words)."""
    out, repeat, tens = "", 0, False
    for p in pieces:
        if p.repeat:
            repeat = p.repeat
            continue
        if tens and len(p.digits) == 1 and p.digits != "0" and not p.weak:
            out = out[:-1] + p.digits
            tens = False
            continue
        tens = p.tens
        if repeat and p.digits:
            out += p.digits[0] * repeat + p.digits[1:]
            repeat = 0
        else:
            out += p.digits
    return out


def words_to_digits(text: str) -> str:
    """All digits said or written in ``text`` (split on spaces), e.g. "double five oh one" → "5501"."""
    pieces: list[NumPiece] = []
    for word in text.split():
        pieces.extend(number_tokens(word))
    return expand([p for p in pieces if not p.plus or p.digits])
