"""A cheap voice print per channel: who is speaking, summed up as a short vector of numbers.

The channel check (scoring/channel_check.py) compares the prints of a call's two channels with the
voice profile of the call's agent (scoring/voice_profile.py): the channel that sounds like the agent's
earlier, confirmed calls is the agent. No model and no training: mel-frequency cepstral coefficients
(MFCC 1–12 over 20 mel bands between 100 and 3,800 Hz, the band a narrowband phone call carries) of
25 ms frames every 10 ms, over the frames where the channel speaks (its transcript's segments, else
the louder frames), summed up as their mean and standard deviation: 24 numbers. Cepstral means carry
the voice and the line it came over; a call's own loudness drops out (c0 is left out).

A print needs ``MIN_SPEECH_S`` of speech; a channel with less has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from storage.segments import Segment
from transcribe.audio import SAMPLE_RATE, AudioWindow

FRAME_S, HOP_S = 0.025, 0.010
N_MELS, N_CEPS = 20, 12
F_LO, F_HI = 100.0, 3800.0
MIN_SPEECH_S = 1.0
DIMS = 2 * N_CEPS


@dataclass(frozen=True)
class VoicePrint:
    vector: tuple[float, ...]  # DIMS numbers: cepstral means, then standard deviations
    speech_s: float  # how much speech it was made from

    def as_json(self) -> dict[str, object]:
        return {"vector": [round(x, 4) for x in self.vector], "speech_s": round(self.speech_s, 2)}

    @classmethod
    def from_json(cls, raw: object) -> VoicePrint | None:
        """A stored print back; None for anything that is not one (a malformed row counts for nothing)."""
        if not isinstance(raw, dict):
            return None
        vec, speech = raw.get("vector"), raw.get("speech_s")
        if not isinstance(vec, list) or len(vec) != DIMS or not isinstance(speech, int | float):
            return None
        try:
            return cls(tuple(float(x) for x in vec), float(speech))
        except (TypeError, ValueError):
            return None


def _mel_bank(rate: int, n_fft: int) -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges_mel = np.linspace(mel(np.array(F_LO)), mel(np.array(min(F_HI, rate / 2 - 1))), N_MELS + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bank = np.zeros((N_MELS, len(freqs)))
    for i in range(N_MELS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        bank[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


def _dct_matrix() -> np.ndarray:
    n = np.arange(N_MELS)
    return np.stack([np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS)) for k in range(1, N_CEPS + 1)])


class Printer:
    """Accumulates one channel's print over stretches of audio (a long call is printed window by
    window, never held whole)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.frame, self.hop = round(FRAME_S * rate), round(HOP_S * rate)
        self.n_fft = 1 << (self.frame - 1).bit_length()
        self._bank = _mel_bank(rate, self.n_fft)
        self._dct = _dct_matrix()
        self._sum = np.zeros(N_CEPS)
        self._sq = np.zeros(N_CEPS)
        self.frames = 0

    def add(self, samples: np.ndarray, spans: Iterable[tuple[float, float]] | None = None,
            offset_s: float = 0.0) -> None:
        """Frames of ``samples`` (starting ``offset_s`` into the call) inside ``spans`` (seconds of the
        call where the channel speaks; None: the frames within 20 dB of the stretch's loudest)."""
        frame, hop = self.frame, self.hop
        if len(samples) < frame:
            return
        n = 1 + (len(samples) - frame) // hop
        if spans is not None:
            # Only the frames inside the spans are cut out of the audio: a 180 s window is 18,000
            # frames, of which a channel speaks in a quarter. Rows of a strided view, converted to
            # float64 once cut out (the same values as converting the whole window first, at a
            # third of the CPU: no index array of every sample, no float copy of the window).
            t = offset_s + (np.arange(n) * hop + frame / 2) / self.rate
            inside = np.zeros(n, dtype=bool)
            for a, b in spans:
                inside |= (t >= a) & (t < b)
            at = np.flatnonzero(inside)
            rows = np.lib.stride_tricks.sliding_window_view(np.asarray(samples), frame)[::hop]
            frames = rows[at].astype(np.float64)
            keep = (frames**2).mean(axis=1) > 0
        else:
            x = np.asarray(samples, dtype=np.float64)
            frames = x[np.arange(frame)[None, :] + hop * np.arange(n)[:, None]]
            energy = (frames**2).mean(axis=1)
            keep = energy > max(float(np.percentile(energy, 99)) * 0.01, 1e-3)
        if not keep.any():
            return
        power = np.abs(np.fft.rfft(frames[keep] * np.hamming(frame), self.n_fft)) ** 2
        ceps = np.log(power @ self._bank.T + 1e-6) @ self._dct.T
        self._sum += ceps.sum(axis=0)
        self._sq += (ceps**2).sum(axis=0)
        self.frames += int(keep.sum())

    def result(self) -> VoicePrint | None:
        """The print; None with less than ``MIN_SPEECH_S`` of speech."""
        if self.frames * HOP_S < MIN_SPEECH_S:
            return None
        mean = self._sum / self.frames
        std = np.sqrt(np.maximum(self._sq / self.frames - mean**2, 0.0))
        return VoicePrint(tuple(float(v) for v in np.concatenate([mean, std])), round(self.frames * HOP_S, 2))


def voice_print(samples: np.ndarray, rate: int,
                spans: Iterable[tuple[float, float]] | None = None) -> VoicePrint | None:
    """The print of one channel (``samples``: int16 or float, mono) over ``spans`` (seconds where the
    channel speaks; None: the frames within 20 dB of the channel's loudest); None with too little speech."""
    printer = Printer(rate)
    printer.add(samples, spans)
    return printer.result()


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    """How far apart two prints (or a print and a profile) are: Euclidean over the scaled numbers
    (standard deviations count half: they vary more with what was said than with who said it)."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = np.concatenate([np.ones(N_CEPS), np.full(N_CEPS, 0.5)])
    return float(np.sqrt((w * (va - vb) ** 2).sum()))


def call_prints(windows: Iterable[AudioWindow], segments: Sequence[Segment],
                channels: Sequence[int]) -> dict[int, VoicePrint]:
    """The print of each of ``channels`` over its own segments, window by window; a channel with too
    little speech has none."""
    spans = {ch: [(s.start, s.end) for s in segments if s.channel == ch and s.text.strip()] for ch in channels}
    printers = {ch: Printer(SAMPLE_RATE) for ch in channels if spans[ch]}
    for w in windows:
        end_s = w.offset_s + w.samples / SAMPLE_RATE
        for ch, printer in printers.items():
            inside = [(a, b) for a, b in spans[ch] if b > w.offset_s and a < end_s]
            if inside and ch < len(w.channels):
                printer.add(w.channels[ch], inside, offset_s=w.offset_s)
    return {ch: p for ch, printer in printers.items() if (p := printer.result()) is not None}
