"""One time-ordered conversation from per-channel segments, with Whisper's hallucinations removed.

Filters (applied per segment, thresholds below; see docs/transcription.md):
- silence: ``no_speech_prob > NO_SPEECH_PROB`` and ``avg_logprob < LOW_LOGPROB`` (Whisper's own rule,
  which the batched pipeline does not apply);
- garbage: ``avg_logprob < REJECT_LOGPROB`` (the decoder was guessing);
- repetition loops: any run of the same 1–12 word phrase repeated more than ``MAX_REPEATS`` times
  in a row is cut to one occurrence; then a segment whose ``compression_ratio`` (recomputed after a
  cut) is still above ``MAX_COMPRESSION_RATIO`` is dropped only when the decoder was also unsure
  (``avg_logprob < LOW_LOGPROB``). Whisper itself never drops text on the ratio alone, and a batched
  30 s chunk of confident speech can be repetitive for real (a script read twice, digits repeated);
- stock phrases Whisper invents on non-speech ("Thank you.", "字幕由…提供") when the segment is
  not confidently speech;
- segments left without text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace

from storage.segments import Segment, Word

NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
REJECT_LOGPROB = -2.0
MAX_COMPRESSION_RATIO = 2.4
MAX_REPEATS = 3
PAUSE_S = 0.8  # a pause this long inside one speaker's chunk starts a new segment (a new turn)
STOCK_PHRASE_NO_SPEECH = 0.2
STOCK_PHRASE_LOGPROB = -0.5
STOCK_PHRASES = {
    "thank you", "thanks for watching", "thank you for watching", "please subscribe", "bye", "you",
    "谢谢观看", "谢谢大家", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由amara.org社区提供",
}


_NOT_WORD = re.compile(r"[\s\W_]+", flags=re.UNICODE)


def _norm(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


def _is_stock_phrase(seg: Segment) -> bool:
    unsure = seg.no_speech_prob > STOCK_PHRASE_NO_SPEECH or seg.avg_logprob < STOCK_PHRASE_LOGPROB
    return unsure and _norm(seg.text) in {_norm(p) for p in STOCK_PHRASES}


def drop_reason(seg: Segment) -> str | None:
    """Why ``seg`` is a hallucination (None: keep it)."""
    if not seg.text.strip():
        return "empty"
    if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOW_LOGPROB:
        return "no speech"
    if seg.avg_logprob < REJECT_LOGPROB:
        return "low confidence"
    if seg.compression_ratio > MAX_COMPRESSION_RATIO and seg.avg_logprob < LOW_LOGPROB:
        return "repetition"
    if _is_stock_phrase(seg):
        return "stock phrase"
    return None


def collapse_repeats(words: Sequence[Word], *, max_repeats: int = MAX_REPEATS, max_n: int = 12) -> list[Word]:
    """Cut any phrase of 1..max_n words repeated more than ``max_repeats`` times in a row to one copy."""
    out = list(words)
    # Each word normalised once: the scan compares every phrase length at every position, and
    # normalising inside it cost ~15 ms of CPU per 30 s chunk (run for every chunk, twice).
    keys = [_norm(w.word) for w in out]
    i = 0
    while i < len(out):
        cut = False
        for n in range(1, max_n + 1):
            phrase = keys[i : i + n]
            if len(phrase) < n:
                break
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == phrase:
                reps += 1
            if reps > max_repeats:
                del out[i + n : i + reps * n]
                del keys[i + n : i + reps * n]
                cut = True
                break
        i += 1 if not cut else n
    return out


def _join(words: Sequence[Word]) -> str:
    # Whisper's word strings carry their own leading spaces (none in Chinese).
    return "".join(w.word for w in words).strip()


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: bytes of ``text`` over bytes of its zlib compression."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def clean(seg: Segment) -> Segment | None:
    """``seg`` with repetition loops cut, or None if it is a hallucination."""
    if seg.words:
        words = collapse_repeats(seg.words)
        if len(words) != len(seg.words):
            # Whisper's ratio measured the loop we just cut; judge what is left, so the real speech
            # around a loop in a 30 s batched chunk is kept instead of dropped with it.
            text = _join(words)
            seg = replace(seg, start=words[0].start, end=words[-1].end, text=text, words=words,
                          compression_ratio=compression_ratio(text))
    return None if drop_reason(seg) else seg


def split_on_pauses(seg: Segment, *, pause_s: float = PAUSE_S) -> list[Segment]:
    """``seg`` cut where its words pause for ``pause_s`` or more.

    The batched pipeline returns one segment per ≤30 s chunk of speech, which on a call spans
    several turns; cutting at pauses gives turn-sized segments with their own start and end.
    """
    if len(seg.words) < 2:
        return [seg]
    groups: list[list[Word]] = [[seg.words[0]]]
    for prev, w in zip(seg.words, seg.words[1:], strict=False):
        if w.start - prev.end >= pause_s:
            groups.append([])
        groups[-1].append(w)
    if len(groups) == 1:
        return [seg]
    return [replace(seg, start=g[0].start, end=g[-1].end, text=_join(g), words=g) for g in groups]


def merge(channels: Iterable[Iterable[Segment]]) -> list[Segment]:
    """All speakers' cleaned segments, cut at pauses, in one list ordered by start time."""
    kept = [part for segs in channels for s in segs if (c := clean(s)) is not None
            for part in split_on_pauses(c)]
    return sorted(kept, key=lambda s: (s.start, s.channel, s.end))
