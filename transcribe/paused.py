"""PCI pauses in a call's audio: zeroed before voice detection and the model, and no word kept inside.

A live call's paused spans (``storage.pauses.in_recording``: [start, end) seconds of the recording)
hold silence written in place of the conversation; nothing said there may reach a transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from storage.segments import Segment
from transcribe.audio import SAMPLE_RATE, AudioWindow


def silence_paused(window: AudioWindow, paused: Sequence[tuple[float, float]]) -> None:
    """Zero ``window``'s samples inside the paused spans (in place: windows are the engine's own copies)."""
    for a, b in paused:
        lo = max(0, round(a * SAMPLE_RATE) - window.start)
        hi = min(window.samples, round(b * SAMPLE_RATE) - window.start)
        if hi > lo:
            for ch in window.channels:
                ch[lo:hi] = 0


def drop_paused(segments: list[Segment], paused: Sequence[tuple[float, float]]) -> list[Segment]:
    """Segments without what lies in a paused span: words centred in one go; a segment left with no
    words, or (without word times) centred in one, goes."""
    if not paused:
        return segments

    def inside(a: float, b: float) -> bool:
        mid = (a + b) / 2
        return any(x <= mid < y for x, y in paused)

    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            if not inside(seg.start, seg.end):
                out.append(seg)
            continue
        kept = [w for w in seg.words if not inside(w.start, w.end)]
        if len(kept) == len(seg.words):
            out.append(seg)
        elif kept:
            out.append(replace(seg, words=kept,
                               text="".join(w.word for w in kept).strip(),
                               start=kept[0].start, end=kept[-1].end))
    return out
