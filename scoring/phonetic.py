"""How alike two runs of Chinese sound: pinyin syllables compared with and without tones.

Whisper writes what it hears as characters, and a small model picks the wrong character for the
right sound: 帮您 → 唤您, 高兴 → 高现, 再见 → 在见. Compared as characters those are misses; compared
as pinyin they are (near-)homophones. A syllable is split into its initial and final, and two
syllables cost less to swap the closer they sound:

=============================================  ====
same syllable, same tone                       0
same syllable, other tone                      0.25
confusable initial, same final (zh/z, n/l …)   0.35
same initial, confusable final (in/ing …)      0.35
same final only                                0.6
same initial only                              0.7
nothing alike                                  1
=============================================  ====

The similarity of two runs is 1 − (weighted edit distance) / (longer run), so 1.0 is the same
sound with the same tones. :func:`toneless_similarity` ignores tones (a tone error costs nothing).
Digits sound as their Chinese reading (3 = san1), so 3到5 sounds like 三到五.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from scoring.conversation import is_cjk

INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
            "c", "s", "y", "w")
CONFUSABLE_INITIALS = [{"z", "zh"}, {"c", "ch"}, {"s", "sh"}, {"n", "l"}, {"f", "h"}, {"l", "r"}, {"b", "p"},
                       {"d", "t"}, {"g", "k"}, {"j", "q", "x"}, {"y", ""}, {"w", ""}]
CONFUSABLE_FINALS = [{"an", "ang"}, {"en", "eng"}, {"in", "ing"}, {"ian", "iang"}, {"uan", "uang"},
                     {"on", "ong"}, {"un", "ong"}, {"e", "o"}, {"i", "ü", "v"}]
DIGIT_READING = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
TONE_COST = 0.25


@lru_cache(maxsize=8192)
def _pinyin_of(text: str) -> tuple[str, ...]:
    # Imported on the first Chinese text: its phrase dictionary costs ~0.3 s of CPU at every worker
    # start, which a center that scores only English calls never needs.
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="default"))


def syllables(chars: Sequence[str]) -> list[str | None]:
    """Tone-numbered pinyin (``hao3``) per unit; None for a unit that is not Chinese or a digit.

    Runs of Chinese are read together, so pypinyin's phrase dictionary picks the reading of a
    polyphone from its neighbours (银行 hang2, 行走 xing2).
    """
    out: list[str | None] = [None] * len(chars)
    k = 0
    while k < len(chars):
        if not (len(chars[k]) == 1 and is_cjk(chars[k])):
            if chars[k].isdigit() and len(chars[k]) == 1:
                out[k] = DIGIT_READING[int(chars[k])]
            k += 1
            continue
        j = k
        while j < len(chars) and len(chars[j]) == 1 and is_cjk(chars[j]):
            j += 1
        read = _pinyin_of("".join(chars[k:j]))
        if len(read) == j - k:
            out[k:j] = list(read)
        else:  # pypinyin grouped something unexpectedly: read each character alone
            out[k:j] = [_pinyin_of(c)[0] if _pinyin_of(c) else None for c in chars[k:j]]
        k = j
    return [s if s and s[-1:].isdigit() else None for s in out]


def _split(syl: str) -> tuple[str, str, str]:
    """(initial, final, tone) of a tone-numbered syllable."""
    tone = syl[-1] if syl[-1].isdigit() else ""
    base = syl[:-1] if tone else syl
    initial = next((i for i in INITIALS if base.startswith(i)), "")
    return initial, base[len(initial):], tone


def _alike(a: str, b: str, groups: list[set[str]]) -> bool:
    return any(a in g and b in g for g in groups)


@lru_cache(maxsize=65536)
def syllable_cost(a: str | None, b: str | None, *, tones: bool = True) -> float:
    """What it costs to hear ``b`` for ``a`` (0 = the same sound)."""
    if a is None or b is None:
        return 1.0
    ia, fa, ta = _split(a)
    ib, fb, tb = _split(b)
    if ia == ib and fa == fb:
        return TONE_COST if tones and ta != tb else 0.0
    if fa == fb and _alike(ia, ib, CONFUSABLE_INITIALS):
        return 0.35
    if ia == ib and _alike(fa, fb, CONFUSABLE_FINALS):
        return 0.35
    if fa == fb:
        return 0.6
    if ia == ib and ia:
        return 0.7
    return 1.0


def _distance(a: Sequence[str | None], b: Sequence[str | None], tones: bool) -> float:
    prev = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        cur = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1,
                         prev[j - 1] + syllable_cost(a[i - 1], b[j - 1], tones=tones))
        prev = cur
    return prev[-1]


def similarity(a: Sequence[str | None], b: Sequence[str | None], *, tones: bool = True) -> float:
    """1 − weighted syllable edit distance / longer length (1.0: sounds the same, same tones)."""
    longest = max(len(a), len(b))
    if not longest:
        return 1.0
    return max(0.0, 1.0 - _distance(a, b, tones) / longest)


def swap_costs(want: Sequence[str | None], heard: Sequence[str | None], *, tones: bool = True) -> np.ndarray:
    """:func:`syllable_cost` of every wanted × heard syllable. A stream holds few distinct syllables
    (an English call: only None and the digits' readings), so each is costed once and spread."""
    distinct = list(dict.fromkeys(heard))
    column = {h: k for k, h in enumerate(distinct)}
    table = np.array([[syllable_cost(w, h, tones=tones) for h in distinct] for w in want]).reshape(len(want), -1)
    return table[:, [column[h] for h in heard]] if len(heard) else np.zeros((len(want), 0))


def lower_bounds(want: Sequence[str | None], heard: Sequence[str | None], size: int, *,
                 tones: bool = True, cost: np.ndarray | None = None) -> np.ndarray:
    """For every window of ``size`` units of ``heard``: a floor under its distance to ``want``.

    Each wanted syllable is either swapped for one in the window (at least its cheapest swap
    there) or dropped (1), so the sum of those minima bounds the edit distance from below. Windows
    whose bound already rules a match out skip the exact computation: a long call is compared
    with every phrase at every place, and almost every place is far off. ``cost``: the
    :func:`swap_costs` of ``want`` and ``heard`` (with the same ``tones``), when already known.
    """
    n_win = len(heard) - size + 1
    if n_win <= 0 or not want:
        return np.zeros(max(n_win, 0))
    if cost is None:
        cost = swap_costs(want, heard, tones=tones)  # wanted × heard
    windowed = cost[:, :n_win].copy()
    for shift in range(1, size):
        np.minimum(windowed, cost[:, shift:shift + n_win], out=windowed)
    return np.minimum(windowed, 1.0).sum(axis=0)


def toneless_similarity(a: Sequence[str | None], b: Sequence[str | None]) -> float:
    return similarity(a, b, tones=False)


def sounds(text: str) -> list[str | None]:
    """Syllables of a text, one per character (for tests and tools)."""
    return syllables([c for c in text if not c.isspace()])
