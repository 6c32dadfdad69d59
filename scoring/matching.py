"""Phrase matching tolerant of ASR errors, word-level for Latin text and character-level for Chinese.

Text becomes *units* (one per Latin word, one per CJK character, punctuation and case dropped), each
carrying the time of the Whisper word it came from. A phrase of n units is compared with every run
of n-1, n or n+1 consecutive units (ASR splits and merges words) using rapidfuzz's normalised
Indel similarity; phrases shorter than ``EXACT_BELOW`` characters must match exactly, because one
wrong character in a short phrase changes its meaning ("hell" is not "hello", 你好 is not 您好).
Matching runs over a speaker's whole stream of units, so a phrase split across two segments is found.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Indel

from scoring.conversation import Conversation, join_units, units
from storage.segments import Segment

EXACT_BELOW = 5


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
        if speaker not in (None, "any") and seg.speaker != speaker:
            continue
        if seg.end < lo or seg.start > hi:
            continue
        out.extend(u for u in segment_units(seg, idx) if lo <= u.start <= hi)
    return out


def find(phrase: str, stream_units: list[Unit], *, fuzzy: float) -> list[Match]:
    """Non-overlapping matches of ``phrase`` in time order (best similarity at each place)."""
    target = units(phrase)
    if not target:
        return []
    want = join_units(target)
    cutoff = 1.0 if len(want.replace(" ", "")) < EXACT_BELOW else fuzzy
    n = len(target)
    sizes = sorted({max(1, n - 1), n, n + 1}) if cutoff < 1.0 else [n]
    texts = [u.text for u in stream_units]
    candidates: list[tuple[float, int, int]] = []
    for k in range(len(texts)):
        for size in sizes:
            if k + size <= len(texts):
                sim = Indel.normalized_similarity(join_units(texts[k:k + size]), want)
                if sim >= cutoff - 1e-9:
                    candidates.append((sim, k, k + size - 1))
    # best first, then earliest, then shortest: the tightest alignment wins its place
    candidates.sort(key=lambda c: (-c[0], c[1], c[2] - c[1]))
    taken: list[tuple[int, int]] = []
    out: list[Match] = []
    for sim, first, last in candidates:
        if any(first <= b and a <= last for a, b in taken):
            continue
        taken.append((first, last))
        run = stream_units[first:last + 1]
        out.append(Match(phrase, first, last, sim, run[0].start, run[-1].end,
                         tuple(dict.fromkeys(u.seg for u in run))))
    return sorted(out, key=lambda m: m.first)
