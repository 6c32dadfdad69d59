"""Building word-timestamped segments for redaction tests, the way Whisper writes words."""

from __future__ import annotations

from storage.segments import Segment, Word


def en(speaker: str, t0: float, text: str, *, channel: int = 0, step: float = 0.5) -> Segment:
    """An English segment: one word per space-separated token, each with its leading space."""
    words, t = [], t0
    for tok in text.split():
        words.append(Word(round(t, 3), round(t + step * 0.8, 3), " " + tok))
        t += step
    return Segment(speaker=speaker, start=t0, end=round(t, 3), text=text, words=tuple(words), channel=channel)


def zh(speaker: str, t0: float, tokens: list[str], *, channel: int = 1, step: float = 0.35) -> Segment:
    """A Mandarin segment: words as given, without spaces."""
    words, t = [], t0
    for tok in tokens:
        words.append(Word(round(t, 3), round(t + step * 0.8, 3), tok))
        t += step
    return Segment(speaker=speaker, start=t0, end=round(t, 3), text="".join(tokens), words=tuple(words),
                   channel=channel)
