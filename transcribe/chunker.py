"""A channel's speech found and packed into ≤30 s chunks across window edges, as bare faster-whisper
would over the whole channel (issue 19: the agent channel's WER gap to bare).

tiny.en decodes the same sentence differently when its chunk holds slightly different audio
(docs/benchmarks.md, "Voice-detection edges and the agent gap"): callqc's agent channel came out
1.7–3.0 WER points worse than bare faster-whisper on hold calls for two reasons, neither alone —
Silero restarted at every window and every heard stretch (other span edges), and window cuts that
changed how spans were packed into chunks. Gate off *and* one window for the whole call gave bare's
text to the word. A :class:`ChannelChunker` gives the same chunks with windows, in bounded memory:

- **Silero over the whole channel, state carried** (:class:`SileroStream`): faster-whisper's Silero
  model is causal (LSTM state ``h``, ``c`` and 64 samples of context from the previous 32 ms
  frame), so feeding it window by window with the state carried, on the frame grid of the call's
  start, gives the probabilities of one run over the whole channel;
- **the same span rule, resumable** (:class:`SpanTracker`): ``faster_whisper.vad.get_speech_timestamps``'s
  loop with its variables kept between windows, and its padding applied as each next span appears;
- **the same packing, carried over** (:meth:`ChannelChunker.feed`): spans are packed by
  ``collect_chunks``'s rule (in order while their speech totals ≤ 30 s); only a chunk the next span
  no longer fits in is decoded; the open chunk's speech (≤ 30 s of audio) waits for the next window.

Memory per channel: the window, ≤ ~31 s of audio before it, and the open chunk's ≤ 30 s.
The cost is Silero on every frame (the energy gate of :mod:`transcribe.vad` ran it on the heard
stretches only, about half the frames): measured in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from transcribe.audio import SAMPLE_RATE

FRAME = 512  # Silero's frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame Silero sees before each frame
SPEECH_PAD = int(SAMPLE_RATE * 400 / 1000)  # faster-whisper's speech_pad_ms
MAX_CHUNK = 30 * SAMPLE_RATE  # the pipeline's chunk length: speech packed per chunk
# Audio kept before the current position: a span starts at most max_speech (~29.2 s) plus the
# pad before the frame that decides it.
LOOKBACK = 32 * SAMPLE_RATE
# A word's edge may run this far past the stretch Silero heard as speech (its raw span, before the pad):
# Whisper's word times near a pause are a few tenths late, and the 0.4 s pad gives them room to run
# into the music or the other speaker's turn that follows. Silero's offset lags the speech slightly, so
# a weak final consonant stays inside.
VOICED_SLACK = int(SAMPLE_RATE * 0.2)
SILERO_BATCH = 1000  # frames per model run (32 s): the state is carried between runs, so the size changes
# nothing but memory (faster-whisper runs 10,000 frames at once: ~70 MB more at the peak of a 180 s window)


class SileroStream:
    """faster-whisper's Silero model fed piece by piece, the state carried: the probabilities of one
    run over the whole channel (``faster_whisper.vad.SileroVADModel.__call__``)."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self.session = get_vad_model().session
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.rest = np.zeros(0, dtype=np.float32)  # samples short of a whole frame

    def feed(self, audio: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Speech probability of every whole frame completed by ``audio``; ``last``: the channel ends
        here, and the rest is zero-padded to a frame as faster-whisper pads (a whole frame if none)."""
        data = np.concatenate([self.rest, audio.astype(np.float32, copy=False)])
        if last:
            data = np.pad(data, (0, FRAME - len(data) % FRAME))
        n = len(data) // FRAME
        self.rest = data[n * FRAME :]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = data[: n * FRAME].reshape(n, FRAME)
        before = np.empty((n, CONTEXT), dtype=np.float32)
        before[0] = self.context
        before[1:] = frames[:-1, -CONTEXT:]
        self.context = frames[-1, -CONTEXT:].copy()
        out = []
        batch = np.concatenate([before, frames], axis=1)
        for i in range(0, n, SILERO_BATCH):
            probs, self.h, self.c = self.session.run(None, {"input": batch[i : i + SILERO_BATCH], "h": self.h,
                                                            "c": self.c})
            out.append(probs)
        return np.concatenate(out, axis=0).reshape(-1)


class SpanTracker:
    """``get_speech_timestamps``'s rule over probabilities given a window at a time (samples from the
    channel's start); :meth:`take` returns the spans whose padded edges are final."""

    def __init__(self, threshold: float, min_silence_ms: int, max_speech_s: float = 30) -> None:
        self.threshold = threshold
        self.neg = max(threshold - 0.15, 0.01)
        self.max_speech = SAMPLE_RATE * max_speech_s - FRAME - 2 * SPEECH_PAD
        self.min_silence = SAMPLE_RATE * min_silence_ms / 1000
        self.at_max = SAMPLE_RATE * 98 / 1000
        self.i = 0  # frames seen
        self.triggered = False
        self.current: dict[str, int] = {}
        self.temp_end = self.prev_end = self.next_start = 0
        self.raw: list[dict[str, int]] = []  # found, not yet padded on both sides
        self.first = True

    def feed(self, probs: np.ndarray) -> None:
        thr, neg, w = self.threshold, self.neg, FRAME
        for p in probs.tolist():  # the library's loop, its variables kept on self between windows
            i = self.i
            self.i += 1
            if p >= thr and self.temp_end:
                self.temp_end = 0
                if self.next_start < self.prev_end:
                    self.next_start = w * i
            if p >= thr and not self.triggered:
                self.triggered = True
                self.current["start"] = w * i
                continue
            if self.triggered and w * i - self.current["start"] > self.max_speech:
                if self.prev_end:
                    self.current["end"] = self.prev_end
                    self.raw.append(self.current)
                    self.current = {}
                    if self.next_start < self.prev_end:
                        self.triggered = False
                    else:
                        self.current["start"] = self.next_start
                    self.prev_end = self.next_start = self.temp_end = 0
                else:
                    self.current["end"] = w * i
                    self.raw.append(self.current)
                    self.current = {}
                    self.prev_end = self.next_start = self.temp_end = 0
                    self.triggered = False
                    continue
            if p < neg and self.triggered:
                if not self.temp_end:
                    self.temp_end = w * i
                if w * i - self.temp_end > self.at_max:
                    self.prev_end = self.temp_end
                if w * i - self.temp_end < self.min_silence:
                    continue
                self.current["end"] = self.temp_end
                if self.current["end"] - self.current["start"] > 0:
                    self.raw.append(self.current)
                self.current = {}
                self.prev_end = self.next_start = self.temp_end = 0
                self.triggered = False

    def finish(self, length: int) -> None:
        """The channel ends after ``length`` samples: an open span ends there."""
        if self.current and length - self.current["start"] > 0:
            self.current["end"] = length
            self.raw.append(self.current)
        self.current = {}

    def take(self, *, length: int | None = None) -> list[dict[str, int]]:
        """Spans padded as the library pads them, each once both neighbours are known (``length``:
        the channel has ended, every span is final)."""
        out = []
        while len(self.raw) >= (1 if length is not None else 2):
            s = self.raw[0]
            s.setdefault("voiced_start", s["start"])  # Silero's own edges, kept for the words (word_time)
            s.setdefault("voiced_end", s["end"])
            if self.first:
                s["start"] = int(max(0, s["start"] - SPEECH_PAD))
                self.first = False
            if len(self.raw) >= 2:
                nxt = self.raw[1]
                nxt.setdefault("voiced_start", nxt["start"])
                gap = nxt["start"] - s["end"]
                if gap < 2 * SPEECH_PAD:
                    s["end"] += int(gap // 2)
                    nxt["start"] = int(max(0, nxt["start"] - gap // 2))
                else:
                    s["end"] = int(s["end"] + SPEECH_PAD)
                    nxt["start"] = int(max(0, nxt["start"] - SPEECH_PAD))
            else:
                s["end"] = int(min(length or 0, s["end"] + SPEECH_PAD))
            out.append(self.raw.pop(0))
        return out


@dataclass
class Chunk:
    """Speech spans packed for one decode: call samples and their audio (float32, 16 kHz)."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    pieces: list[np.ndarray] = field(default_factory=list)
    voiced: list[tuple[int, int]] = field(default_factory=list)  # per span: where Silero heard speech in it

    @property
    def samples(self) -> int:
        return sum(b - a for a, b in self.spans)


class ChannelChunker:
    """One channel of a call, window after window: the chunks bare faster-whisper would decode."""

    def __init__(self, threshold: float, min_silence_ms: int) -> None:
        self.silero = SileroStream()
        self.spans = SpanTracker(threshold, min_silence_ms)
        self.tail = np.zeros(0, dtype=np.float32)  # audio from tail_start to pos
        self.tail_start = 0
        self.pos = 0
        self.open = Chunk()
        self.skip: list[tuple[int, int]] = []  # music on hold and tones: never sent to Whisper
        self.cuts: list[tuple[int, int]] = []  # known prompts: never sent to Whisper, nor the pad around them
        self.reach: dict[int, tuple[int, np.ndarray]] = {}  # a found span's audio, ± the pad

    def feed(self, audio: np.ndarray, *, skip: Sequence[tuple[int, int]] = (), cuts: Sequence[tuple[int, int]] = (),
             last: bool = False) -> list[Chunk]:
        """The next window's float audio (and its music/tone sample ranges from the call's start, and
        its known prompts' in ``cuts``); the chunks now complete. ``last``: the channel ends here, every
        chunk is returned."""
        self.skip.extend(skip)
        self.cuts.extend(cuts)
        self.tail = np.concatenate([self.tail, audio.astype(np.float32, copy=False)])
        self.pos += len(audio)
        self.spans.feed(self.silero.feed(audio, last=last))
        if last:
            self.spans.finish(self.pos)
        # A span's padded edges lie within SPEECH_PAD of its raw ones: its audio is kept as soon as
        # that much follows it, so a span waiting for its next one (a word, then an hour of dead
        # air) does not hold the audio in between.
        for s in self.spans.raw:
            if id(s) not in self.reach and s["end"] + SPEECH_PAD <= self.pos:
                lo = max(0, s["start"] - SPEECH_PAD)
                self.reach[id(s)] = (lo, self._audio(lo, s["end"] + SPEECH_PAD))
        done: list[Chunk] = []
        for s in self.spans.take(length=self.pos if last else None):
            reach = self.reach.pop(id(s), None)
            for a, b in self._minus(s["start"], s["end"]):
                piece = reach[1][a - reach[0] : b - reach[0]].copy() if reach else self._audio(a, b)
                if self.open.spans and self.open.samples + (b - a) > MAX_CHUNK:  # collect_chunks's rule
                    done.append(self.open)
                    self.open = Chunk()
                self.open.spans.append((a, b))
                self.open.pieces.append(piece)
                self.open.voiced.append((s["voiced_start"], s["voiced_end"]))
        if last:
            if self.open.spans:
                done.append(self.open)
            self.open, self.tail = Chunk(), np.zeros(0, dtype=np.float32)
            return done
        keep = max(self.pos - LOOKBACK, self.tail_start)
        self.tail = self.tail[keep - self.tail_start :]
        self.tail_start = keep
        self.skip = [(a, b) for a, b in self.skip if b > keep - LOOKBACK]
        self.cuts = [(a, b) for a, b in self.cuts if b > keep - LOOKBACK]
        return done

    def _audio(self, a: int, b: int) -> np.ndarray:
        if a < self.tail_start:
            raise AssertionError(f"audio at {a} was let go (kept from {self.tail_start})")
        return self.tail[a - self.tail_start : b - self.tail_start].copy()

    def _minus(self, a: int, b: int) -> list[tuple[int, int]]:
        pieces = [(a, b)]
        for x, y in self.skip:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, x)), (max(lo, y), hi)) if p[1] - p[0] >= FRAME]
        for x, y in self.cuts:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, x)), (max(lo, y), hi)) if p[1] - p[0] >= FRAME
                      and not (p[1] - p[0] <= SPEECH_PAD + FRAME and (p[1] == x or p[0] == y))]
        return pieces


@dataclass(frozen=True)
class Placed:
    """One span of packed speech: where it starts in the packed array and in the call (samples), its
    length, and the stretch of the call Silero heard as speech in it (:data:`VOICED_SLACK`)."""

    at: int
    start: int
    n: int
    voiced_start: int
    voiced_end: int


def packed(chunks: Sequence[Chunk]) -> tuple[np.ndarray, list[dict[str, int]], list[Placed]]:
    """Chunks as one array of their speech back to back, its spans (which the pipeline packs into the
    same chunks again), and where each span lies in the call."""
    audio = np.concatenate([p for c in chunks for p in c.pieces]) if chunks else np.zeros(0, dtype=np.float32)
    spans, where, at = [], [], 0
    for c in chunks:
        for (a, b), (va, vb) in zip(c.spans, c.voiced, strict=True):
            spans.append({"start": at, "end": at + b - a})
            where.append(Placed(at, a, b - a, va, vb))
            at += b - a
    return audio, spans, where


def _holding(where: Sequence[Placed], r: float) -> Placed:
    for span in where:
        if r < span.at + span.n:
            return span
    return where[-1]


def _in_call(span: Placed, t: float) -> float:
    return (span.start + min(max(t * SAMPLE_RATE - span.at, 0), span.n)) / SAMPLE_RATE


def call_time(where: Sequence[Placed], t: float, *, ref: float | None = None) -> float:
    """Seconds in the packed array → seconds from the call's start, by the span that holds ``ref``
    (default ``t``): a word's edges go with the span that holds its middle, and stay inside that span
    (the packed audio past its end is another span's, said elsewhere in the call)."""
    if not where:
        return t
    return _in_call(_holding(where, (t if ref is None else ref) * SAMPLE_RATE), t)


def word_time(where: Sequence[Placed], start: float, end: float) -> tuple[float, float]:
    """A word's edges in the packed array → seconds from the call's start (:func:`call_time`, by its
    middle), each held within :data:`VOICED_SLACK` of the stretch Silero heard as speech in its span.
    Without this the last word before a pause ends up to the 0.4 s pad later than it was said: inside
    the music on hold that follows, or the other speaker's answer (overtalk that never was). A word
    wholly outside that stretch (speech Silero missed) keeps Whisper's times."""
    if not where:
        return start, end
    span = _holding(where, (start + end) / 2 * SAMPLE_RATE)
    a, b = _in_call(span, start), _in_call(span, end)
    lo = (span.voiced_start - VOICED_SLACK) / SAMPLE_RATE
    hi = (span.voiced_end + VOICED_SLACK) / SAMPLE_RATE
    if b <= lo or a >= hi:
        return a, b
    return max(a, lo), min(b, hi)
