"""Mandarin numbers the ASR wrote as sound-alike characters, read back by their sound (rule ``sounds``).

A caller reads an ID number as 三一零一零四…; Whisper's base model often writes what it heard as
other characters of the same or a near sound: 伊/衣/医 for 一, 要/妖 for 幺, 林/灵 for 零, 山/散 for
三, 是/事 for 四, 我/吴 for 五, 留/了 for 六, 其/期 for 七, 把/吧 for 八, 就/酒 for 九. No digit is
written, so the other rules see nothing. Here each Han character is read as pinyin (every reading
pypinyin knows for it, tones dropped) and mapped to the digits whose sound it is close to
(``soundalike_syllables:`` in the rules, syllables per digit); digits and numerals count as
themselves. The characters that map to a digit, one after another (punctuation, spaces and filler
words such as 嗯 between them, pauses under 4 s, the other speaker not asking anything), form a run.

A stretch of a run is taken as a number only when one reading of it (a candidate digit per
character) *passes the check of a number type*, so that ordinary words do not turn into numbers: a
resident ID number's birth date and ISO 7064 check character (18 units), anywhere in the run; a
card's issuer prefix and Luhn sum (13–19) or a mainland phone's prefix (a mobile's 1[3-9], 11
digits; a landline's 0 and area code, 10–12), weak checks that a
stretch of an ordinary sentence passes now and then, only as the whole run (give or take one unit
at either end) and only after a cue for that type — said as written (卡号, 手机) or heard as a
homophone of one (``cues_by_sound:``, matched by syllables: 收集, 点话) — or, with no cue heard at
all, when ``redaction_soundalike_uncued_units`` (10) of its characters sound exactly like a digit
(伊 yi, 把 ba; not 是 shi, 林 lin). After a look-alike cue (订单号) only an ID number is read.

The text loses the stretch's characters (``[ID:18]``); the hit's time runs from the first word of
the stretch to the last (words are the finest times Whisper gives).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from transcribe.redaction.cues import CUE_WINDOW_S, Cues
from transcribe.redaction.hits import Hit, WordRef
from transcribe.redaction.number_rules import LANDLINE, MOBILE, card_prefix_ok, cn_id_ok, luhn_ok
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.runs import MAX_GAP_S, PLACEHOLDER, TimedWord, interrupted, is_filler, norm, window
from transcribe.redaction.spoken_numbers import ZH_DIGITS

MIN_UNITS = 10  # the shortest number checked: a landline (0 + area code + 7 digits)
UNCUED_UNITS = 10  # default of the setting redaction_soundalike_uncued_units
MAX_READINGS = 512  # candidate digit strings tried per stretch: more is a sentence, not a number
# the same for a card or phone, whose checks are weak: a card's prefix and Luhn sum the weakest (of
# 2000 random runs of 20 sound-alike characters after a card cue, 15 % pass with 8, 22 % with 16;
# after a phone cue none with 16: bench/redaction_sounds.py)
WEAK_READINGS = {Kind.card: 8, Kind.phone: 16}
LONG_KINDS = frozenset({Kind.card, Kind.id, Kind.phone, Kind.account})
_SKIP = re.compile(r"[\s,.，。、;；:：\-–—/()（）!?！？\"'“”]")


@dataclass(frozen=True)
class Unit:
    word: TimedWord
    pos: int  # character index in the word's text
    digits: str  # candidate digits ("1"; two or more when its readings sound like several)
    exact: bool  # a digit, a numeral, or a character read exactly as a numeral is (伊 yi, 把 ba; not 是 shi)


@lru_cache(maxsize=8192)
def readings(char: str) -> tuple[str, ...]:
    """Every toneless pinyin reading of a Han character (pypinyin's heteronyms)."""
    # Imported on the first Chinese character: pypinyin's dictionaries cost ~0.3 s at every worker start
    from pypinyin import Style, pinyin

    got = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(got[0]) if got else ()


def candidates(char: str, rules: Rules) -> str:
    """The digits a character may stand for: itself, a numeral's value, or the digits of its sound."""
    if char.isascii():
        return char if char.isdigit() else "X" if char in "xX" else ""
    if char in ZH_DIGITS:
        return ZH_DIGITS[char]
    if not "\u3400" <= char <= "\u9fff":
        return ""
    got = {d for r in readings(char) for d in rules.soundalike_syllables.get(r, "")}
    return "".join(sorted(got))


@lru_cache(maxsize=1)
def _numeral_sounds() -> frozenset[tuple[str, str]]:
    return frozenset((r, d) for c, d in ZH_DIGITS.items() for r in readings(c))


def exact(char: str, digits: str) -> bool:
    if char.isascii() or char in ZH_DIGITS:
        return True
    return any((r, d) in _numeral_sounds() for r in readings(char) for d in digits)


def _runs(mine: list[TimedWord], others: list[TimedWord], rules: Rules) -> list[list[Unit]]:
    runs: list[list[Unit]] = [[]]
    last_end = -1e9
    for w in mine:
        text = w.word.word
        if PLACEHOLDER.search(text):
            runs.append([])
            continue
        units = [Unit(w, k, c, exact(ch, c)) for k, ch in enumerate(text) if (c := candidates(ch, rules))]
        if not units:
            if not is_filler(text, rules):
                runs.append([])
            continue
        if runs[-1] and (w.word.start - last_end > MAX_GAP_S or interrupted(others, last_end, w.word.start, rules)):
            runs.append([])
        prev = -1
        for u in units:  # a character that is neither a unit nor a separator breaks the run
            if any(not _SKIP.match(c) for c in text[prev + 1:u.pos]) and (prev >= 0 or runs[-1]):
                runs.append([])
            runs[-1].append(u)
            prev = u.pos
        if any(not _SKIP.match(c) for c in text[prev + 1:]):
            runs.append([])
        last_end = w.word.end
    return [r for r in runs if r]


def _pinyin_text(words: list[TimedWord]) -> str:
    sylls = []
    for w in words:
        for ch in norm(w.word.word):
            if "\u3400" <= ch <= "\u9fff":
                got = readings(ch)
                sylls.append(got[0] if got else "?")
            elif not ch.isspace():
                sylls.append("?")
    return " " + " ".join(sylls) + " "


def sound_cue(all_words: list[TimedWord], starts: list[float], t: float, rules: Rules) -> Kind | None:
    """The type of the last cue heard as a homophone (``cues_by_sound``) in the window before ``t``."""
    said = _pinyin_text([w for w in window(all_words, starts, t - CUE_WINDOW_S, t) if w.word.start < t])
    best: tuple[int, Kind | None] = (-1, None)
    for kind, cues in rules.cues_by_sound.items():
        for cue in cues:
            at = said.rfind(f" {cue} ")
            if at > best[0]:
                best = (at, kind)
    return best[1]


def _check(units: list[Unit], kinds: tuple[Kind, ...], most: int) -> tuple[Kind, str] | None:
    """The first type whose check one reading of ``units`` passes, with that reading."""
    n = len(units)
    wanted = [k for k in kinds if (k is Kind.id and n == 18) or (k is Kind.card and 13 <= n <= 19)
              or (k is Kind.phone and 10 <= n <= 12)]
    if not wanted:
        return None
    choices = [u.digits for u in units]
    if math.prod(len(c) for c in choices) > most:
        return None
    for digits in itertools.product(*choices):
        s = "".join(digits)
        if "X" in s[:-1]:
            continue
        for kind in wanted:
            if kind is Kind.id and cn_id_ok(s) or kind is Kind.card and s.isdigit() and card_prefix_ok(s) \
                    and luhn_ok(s) or kind is Kind.phone and (MOBILE.fullmatch(s) or LANDLINE.fullmatch(s)):
                return kind, s
    return None


def _hit(kind: Kind, units: list[Unit], speaker: str, channel: int | None) -> Hit:
    refs: list[WordRef] = []
    for u in units:
        if refs and (refs[-1].seg, refs[-1].word) == (u.word.seg, u.word.idx):
            refs[-1] = WordRef(u.word.seg, u.word.idx, refs[-1].lo, u.pos + 1)
        else:
            refs.append(WordRef(u.word.seg, u.word.idx, u.pos, u.pos + 1))
    return Hit(kind, speaker, channel, units[0].word.word.start, units[-1].word.word.end, len(units), "sounds",
               tuple(refs))


def sound_hits(mine: list[TimedWord], others: list[TimedWord], all_words: list[TimedWord], cues: Cues,
               rules: Rules, hits: list[Hit], speaker: str, channel: int | None,
               uncued_units: int = UNCUED_UNITS) -> list[Hit]:
    """See the module docstring; ``hits`` are what the other rules found (their words are left alone)."""
    if not rules.soundalike_syllables:
        return []
    starts = [w.word.start for w in all_words]
    out: list[Hit] = []
    for run in _runs(mine, others, rules):
        if len(run) < MIN_UNITS:
            continue
        t0 = run[0].word.word.start
        cue = cues.before(t0)
        heard = Kind(cue) if cue in LONG_KINDS else sound_cue(all_words, starts, t0, rules) \
            if cue != "not_pii" else None
        # an ID number anywhere in the run (its check is strict); a card or mobile only as the whole
        # run, give or take one unit at either end (是 heard as 四 before it, 了 after it), and with no
        # cue heard only with uncued_units characters that sound exactly like digits: Luhn and 1[3-9]
        # are weak checks, which a stretch of an ordinary sentence (是我一起把事期…) passes now and then
        asked = {Kind.card} if heard in (Kind.card, Kind.account) else {Kind.phone} if heard is Kind.phone else set()
        taken = [False] * len(run)
        for n in (18, 19, 17, 16, 15, 14, 13, 12, 11, 10):
            for lo in range(0, len(run) - n + 1):
                if any(taken[lo:lo + n]):
                    continue
                whole = lo <= 1 and lo + n >= len(run) - 1 and cue != "not_pii"
                kinds = tuple(k for k in (Kind.id, Kind.card, Kind.phone) if k is Kind.id or whole and (
                    k in asked or heard is None and sum(u.exact for u in run[lo:lo + n]) >= uncued_units))
                span = run[lo:lo + n]
                a, b = span[0].word.word.start, span[-1].word.word.end
                if not kinds or any(h.start <= b and a <= h.end for h in [*hits, *out]):
                    continue
                found = next((f for k in kinds if (f := _check(span, (k,), WEAK_READINGS.get(k, MAX_READINGS)))),
                             None)
                if found is not None:
                    out.append(_hit(found[0], span, speaker, channel))
                    taken[lo:lo + n] = [True] * n
    return out
