"""A call's decoded windows kept for a second reader, so a short call is decoded once.

After transcription the handler reads the call's audio again for the channels' voice prints
(transcribe/voiceprint.py). Decoding and resampling a 4-minute call costs ~0.2 s of CPU; for a call
short enough to hold in memory, :class:`KeptWindows` keeps a copy of each window as the engine
reads it (a copy: the engine silences PCI pauses in place, the prints read the original audio) and
hands them out again. A longer call is streamed and decoded again as before, so memory stays
bounded by ``max_s``.
"""

from __future__ import annotations

from collections.abc import Iterator

from transcribe.audio import SAMPLE_RATE, AudioStream, AudioWindow

KEEP_MAX_S = 600.0  # 10 minutes of 16 kHz int16 stereo: ~38 MB per call being transcribed


class KeptWindows:
    """``stream`` as the engine reads it, each window copied while the copies stay within ``max_s``."""

    def __init__(self, stream: AudioStream, *, max_s: float = KEEP_MAX_S) -> None:
        self.stream = stream
        self.max_samples = int(max_s * SAMPLE_RATE)
        self._kept: list[AudioWindow] | None = [] if stream.duration_s <= max_s else None
        self._done = False

    @property
    def n_channels(self) -> int:
        return self.stream.n_channels

    @property
    def duration_s(self) -> float:
        return self.stream.duration_s

    def windows(self, *, window_s: float) -> Iterator[AudioWindow]:
        kept: list[AudioWindow] | None = [] if self._kept is not None else None
        total = 0
        for w in self.stream.windows(window_s=window_s):
            total += w.samples
            if kept is not None and total > self.max_samples:
                kept = None  # longer than its header said: stream it again instead
            if kept is not None:
                kept.append(AudioWindow(w.start, [c.copy() for c in w.channels]))
            yield w
        self._kept, self._done = kept, True

    def kept(self) -> list[AudioWindow] | None:
        """Every window of the call as decoded, once a full read kept them all; else None."""
        return self._kept if self._done else None
