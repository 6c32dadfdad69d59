"""Phrase matching tolerant of ASR errors, word-level for Latin text and character-level for Chinese.

Text becomes *units* (one per Latin word, one per CJK character, punctuation and case dropped), each
carrying the time of the Whisper word it came from. A phrase of n units is compared with every run
of n-1, n or n+1 consecutive units (ASR splits and merges words) using rapidfuzz's normalised
Indel similarity; phrases shorter than ``EXACT_BELOW`` characters must match exactly, because one
wrong character in a short phrase changes its meaning ("hell" is not "hello", 你好 is not 您好).
Matching runs over a speaker's whole stream of units, so a phrase split across two segments is found.

Chinese: numbers are compared as digits (三到五 = 3到5, :mod:`scoring.numerals`), and a phrase is
also compared by sound (:mod:`scoring.phonetic`): pinyin syllables with tones, so a homophone or
near-homophone error (帮您 → 唤您, 高兴 → 高现) still matches when it sounds at least
``SOUND_ALIKE[lang]`` alike. A short phrase (fewer than ``EXACT_BELOW`` characters) matches by
sound only when it sounds exactly the same, tones included (再见 → 在见, but 笨蛋 is not 本单);
phrase checks (not forbidden words) also accept the same syllables in other tones (工号 → 恭好). A
match says how it was found (``by`` text or sound), what was heard and both similarities, so the
evidence shows the inspector why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Indel

from scoring import phonetic
from scoring.conversation import Conversation, is_cjk, join_units, said_by, units
from scoring.numerals import number_spans
from storage.segments import Segment

EXACT_BELOW = 5
# Least sound similarity (pinyin with tones, :func:`scoring.phonetic.similarity`) for a match by
# sound, per language; set by measurement on the Mandarin evaluation set (docs/benchmarks.md).
SOUND_ALIKE = {"zh": 0.85}
# Forbidden words only: least sound similarity (any length, tones counted) at which a place is an
# *uncertain* hit, sent to an inspector, never a "no". The base model writes an insult as other
# words that still sound like it (你有病吧 → 你有平坦, 你闭嘴 → 你必罪), and a missed insult is worse than
# a false alarm a human clears; None: off. Set on development seeds (docs/benchmarks.md, "Default Mandarin pipeline"):
# 0.75 flagged clean clips, 0.9 missed 你有平坦; 0.8 caught no more than 0.85.
FORBIDDEN_REVIEW: dict[str, float | None] = {"zh": 0.85}


@dataclass(frozen=True)
class Unit:
    text: str
    start: float
    end: float
    seg: int  # index into conv.segments


@dataclass(frozen=True)
class Match:
    phrase: str
    first: int  # unit indices, inclusive
    last: int
    similarity: float
    start: float
    end: float
    segs: tuple[int, ...]
    heard: str = ""  # the matched units as text
    by: str = "text"  # "text": the characters/words matched; "sound": only the pinyin did
    text_similarity: float | None = None
    sound_similarity: float | None = None
    toneless: bool = False  # the sound was compared without tones (a short phrase an agent should say)

    def describe(self) -> str:
        """For evidence: what matched, how alike, and what was heard when it differs."""
        if self.by == "sound":
            pinyin = "pinyin without tones" if self.toneless else "pinyin"
            return (f"sounds like {self.phrase!r}: heard {self.heard!r} ({pinyin} {self.sound_similarity:.0%}, "
                    f"characters {self.text_similarity:.0%})")
        heard = f", heard {self.heard!r}" if self.heard and self.heard != self.phrase else ""
        sound = f", pinyin {self.sound_similarity:.0%}" if self.sound_similarity is not None else ""
        return f"matched {self.phrase!r} ({self.text_similarity or self.similarity:.0%}{sound}){heard}"


def segment_units(seg: Segment, idx: int) -> list[Unit]:
    """Units of one segment, timed by its words (or spread evenly when it has none)."""
    if seg.words:
        return [Unit(u, w.start, w.end, idx) for w in seg.words for u in units(w.word)]
    us = units(seg.text)
    step = seg.duration / len(us) if us else 0.0
    return [Unit(u, seg.start + k * step, seg.start + (k + 1) * step, idx) for k, u in enumerate(us)]


def stream(conv: Conversation, speaker: str | None, lo: float, hi: float) -> list[Unit]:
    """Units of ``speaker`` that start inside [lo, hi], in time order."""
    out: list[Unit] = []
    for idx, seg in enumerate(conv.segments):
        if not said_by(seg, speaker):
            continue
        if seg.end < lo or seg.start > hi:
            continue
        out.extend(u for u in segment_units(seg, idx) if lo <= u.start <= hi)
    return normalise(out)


def digit_units(texts: list[str]) -> list[tuple[str, int]]:
    """Units with every number as single digits, each with the index of the unit it came from.

    三到五 and 3到5 both become 3 到 5; 二十四 (three units) becomes 2 4, the digits spread over the
    units that said them so a match's time still points at the words.
    """
    joined, owner = "", []
    for i, t in enumerate(texts):
        if joined and not is_cjk(t[0]) and not is_cjk(joined[-1]):
            joined += " "
            owner.append(-1)
        joined += t
        owner += [i] * len(t)
    spans = {sp.start: sp for sp in number_spans(joined)}
    out: list[tuple[str, int]] = []
    pos = 0
    while pos < len(joined):
        if pos in spans:
            sp = spans.pop(pos)
            first, last = owner[sp.start], owner[sp.end - 1]
            n = len(sp.digits)
            out += [(d, first + j * (last - first + 1) // n) for j, d in enumerate(sp.digits)]
            pos = sp.end
            continue
        i = owner[pos]
        if i >= 0:
            t = texts[i]
            out += [(d, i) for d in t] if t.isdigit() else [(t, i)]
            pos += len(t)
        else:
            pos += 1
    return out


def normalise(stream_units: list[Unit]) -> list[Unit]:
    """The stream as :func:`find` compares it: numbers as single digits (see :func:`digit_units`)."""
    out: list[Unit] = []
    for text, i in digit_units([u.text for u in stream_units]):
        u = stream_units[i]
        out.append(Unit(text, u.start, u.end, u.seg))
    return out


def _chinese(target: list[str]) -> bool:
    return all(is_cjk(t[0]) or t.isdigit() for t in target)


def find(phrase: str, stream_units: list[Unit], *, fuzzy: float, lang: str = "zh",
         by_sound: bool = True, toneless_short: bool = False, sound_floor: float | None = None) -> list[Match]:
    """Non-overlapping matches of ``phrase`` in time order (best similarity at each place).

    ``stream_units`` must come from :func:`normalise` (numbers as digits). ``by_sound=False``:
    characters only (a known ASR confusion is itself a sound-alike; its sound-alikes are too far).
    ``toneless_short``: a short phrase also matches the same syllables in other tones (工号 heard as
    恭好) — for phrases an agent should say, where a tone error is the commonest ASR slip; never for
    forbidden words, where it would take 本单 "this order" for 笨蛋. ``sound_floor``: the least sound
    similarity instead of :data:`SOUND_ALIKE`, for phrases of every length (tones counted) — the
    review band of forbidden words (:data:`FORBIDDEN_REVIEW`), whose matches are all uncertain.
    """
    target = [t for t, _ in digit_units(units(phrase))]
    if not target:
        return []
    want = join_units(target)
    short = len(want.replace(" ", "")) < EXACT_BELOW
    cutoff = 1.0 if short else fuzzy
    n = len(target)
    texts = [u.text for u in stream_units]
    by_sound = by_sound and _chinese(target) and lang in SOUND_ALIKE
    sound_cutoff = sound_floor if sound_floor is not None else (1.0 if short else SOUND_ALIKE.get(lang, 1.0))
    sizes = sorted({max(1, n - 1), n, n + 1}) if min(cutoff, sound_cutoff if by_sound else 1.0) < 1.0 else [n]
    heard_sound = phonetic.syllables(texts) if by_sound else []
    # Heard without a Chinese syllable or digit (an English call against the rubric's Chinese
    # forbidden words), every swap costs 1 whatever the wanted syllables are: reading them would only
    # import pypinyin (~0.3 s of CPU at a worker's first call) to the same result.
    want_sound = (phonetic.syllables(target) if any(heard_sound) else [None] * len(target)) if by_sound else []
    # Floors under the sound distance of every place (the swap costs worked out once for all sizes):
    # places they rule out skip the exact comparison. Toneless ones for a short phrase's toneless match.
    toneless = by_sound and short and toneless_short
    cost = phonetic.swap_costs(want_sound, heard_sound, tones=not toneless) if by_sound else None
    bounds = ({size: phonetic.lower_bounds(want_sound, heard_sound, size, tones=not toneless, cost=cost)
               for size in sizes} if by_sound else {})
    # join_units of a window, fast: a unit is preceded by a space only between two Latin units
    latin = [not is_cjk(t[0]) for t in texts]
    glued = [(" " + t) if k and latin[k] and latin[k - 1] else t for k, t in enumerate(texts)]
    # No place can match by text when too few of the phrase's characters occur in the stream at all
    # (a place's similarity 2·LCS / (a + b) is at most 2m / (len(want) + m), m of its characters
    # found): a Chinese phrase against an English call. Then only the places its sound may match
    # are visited, not every place with every size.
    seen = set("".join(texts)) | {" "}
    m = sum(ch in seen for ch in want)
    places: range | list[int] = range(len(texts))
    if not m or 2 * m / (len(want) + m) < cutoff - 1e-9:
        may = np.zeros(len(texts), dtype=bool)
        for size, floor in bounds.items():
            may[:len(floor)] |= 1.0 - floor / max(n, size) >= sound_cutoff - 1e-9
        places = np.flatnonzero(may).tolist()
    candidates: list[tuple[float, int, int, float, float | None]] = []
    for k in places:
        for size in sizes:
            if k + size > len(texts) or (short and size != n):
                continue
            sim = Indel.normalized_similarity(texts[k] + "".join(glued[k + 1:k + size]), want)
            sound = None
            possible = by_sound and 1.0 - bounds[size][k] / max(n, size) >= sound_cutoff - 1e-9
            if toneless and (possible or sim >= cutoff - 1e-9):  # a text match keeps its sound similarity
                sound = phonetic.toneless_similarity(want_sound, heard_sound[k:k + size])
            elif possible and not toneless:
                sound = phonetic.similarity(want_sound, heard_sound[k:k + size])
            if sim >= cutoff - 1e-9 or (sound is not None and sound >= sound_cutoff - 1e-9):
                candidates.append((max(sim, sound or 0.0), k, k + size - 1, sim, sound))
    # best first, then earliest, then shortest: the tightest alignment wins its place
    candidates.sort(key=lambda c: (-c[0], c[1], c[2] - c[1]))
    taken: list[tuple[int, int]] = []
    out: list[Match] = []
    for score, first, last, text_sim, sound_sim in candidates:
        if any(first <= b and a <= last for a, b in taken):
            continue
        taken.append((first, last))
        # by text when these characters (or a tighter run of them) match as text: certain, not a sound-alike
        overlapping = [c[3] for c in candidates if c[1] <= last and first <= c[2] and c[3] >= cutoff - 1e-9]
        by = "text" if overlapping else "sound"
        run = stream_units[first:last + 1]
        out.append(Match(phrase, first, last, score, run[0].start, run[-1].end,
                         tuple(dict.fromkeys(u.seg for u in run)), heard=join_units(texts[first:last + 1]),
                         by=by, text_similarity=max(overlapping, default=text_sim), sound_similarity=sound_sim,
                         toneless=short and toneless_short))
    return sorted(out, key=lambda m: m.first)
