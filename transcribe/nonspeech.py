"""Music on hold and call-progress tones, found per channel by a cheap signal classifier.

Neither is speech, and neither should reach Whisper (it invents words in music) or count as dead
air or talk. The classifier reads one short-time spectrum per 32 ms (1024-point FFT, hop 512 at
16 kHz) — a few milliseconds of CPU per channel-minute — and decides with rules on three features,
whose thresholds were read off the distributions measured on ``bench.pbx_corpus`` calls
(Asterisk music on hold and prompts, espeak-ng speech, synthesised tones; docs/transcription.md):

- **tone** (ringback, busy, SIT, DTMF, any steady tone): a frame whose energy sits in a few
  frequency bins (``TONE_PEAK_SHARE`` of it in the top ``TONE_BINS`` bins) and whose strongest bin
  stays put for ``TONE_MIN_FRAMES`` frames. Speech's harmonics glide and spread; a tone does not.
  The pair of strongest frequencies names the tone (``label``) when it is a known one.
- **hold** (music): a heard stretch whose spectrum changes slowly and whose level is steady over
  a second — median spectral flux below ``MUSIC_MAX_FLUX`` and level deviation below
  ``MUSIC_MAX_DB_STD`` — for at least ``MUSIC_MIN_S``. Speech is syllabic: its spectrum and level
  change several times a second (flux median 0.9, level deviation ≥ 8 dB on the corpus; music
  0.3 and 3.4 dB). A spoken announcement inside the music is speech again.

Quiet frames (below the level the voice gate hears, :func:`transcribe.vad.heard`'s threshold) are
neither: that is dead air, which the conversation metrics measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from transcribe.audio import SAMPLE_RATE

N_FFT = 1024
HOP = 512
FRAME_S = HOP / SAMPLE_RATE
TONE_BINS = 6
TONE_PEAK_SHARE = 0.98
TONE_MAX_FLUX = 0.02
TONE_MIN_FRAMES = 2  # 64 ms past the onset: a DTMF digit lasts at least 40 ms by standard, PBXs send 80–120 ms
UNNAMED_TONE_MIN_S = 0.4
TONE_JOIN_S = 4.5  # a ringback cadence (2 s on, 4 s off) is one tone
MUSIC_BLOCK_S = 1.0
MUSIC_MAX_FLUX = 0.3
MUSIC_MIN_S = 3.0
MUSIC_JOIN_S = 1.6  # music has quiet or percussive breaks; a spoken announcement is longer
LOUD_ABOVE_FLOOR_DB = 10.0
LOUD_MIN_DBFS = -60.0
LOUD_MAX_DBFS = -40.0

# Known call-progress tones by their two strongest frequencies (Hz, ± one FFT bin of 15.6 Hz)
KNOWN_TONES = {(440, 480): "ringback", (480, 620): "busy", (350, 440): "dialtone"}
SIT = (913.8, 1370.6, 1776.7)  # special information tone: three single frequencies in turn
DTMF_LOW, DTMF_HIGH = (697, 770, 852, 941), (1209, 1336, 1477, 1633)


class NonSpeechKind(StrEnum):
    hold = "hold"
    tone = "tone"


@dataclass(frozen=True)
class NonSpeech:
    """A stretch of one channel that is music on hold or a tone (seconds from the call's start)."""

    kind: NonSpeechKind
    channel: int
    start: float
    end: float
    label: str = ""  # tones: ringback / busy / sit / dtmf / dialtone / "" (another steady tone)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NonSpeech:
        return cls(NonSpeechKind(d["kind"]), int(d["channel"]), float(d["start"]), float(d["end"]),
                   str(d.get("label", "")))


@dataclass(frozen=True)
class Frames:
    db: np.ndarray  # level per frame, dBFS
    flux: np.ndarray  # spectral flux to the previous frame (of the normalised magnitude spectrum)
    peak_share: np.ndarray  # share of the frame's energy in its TONE_BINS strongest bins
    peak_bin: np.ndarray  # the strongest bin
    second_bin: np.ndarray  # the strongest bin at least 3 bins away from it


def frames(audio: np.ndarray) -> Frames:
    """Per-frame features of float 16 kHz ``audio``."""
    n = max(0, 1 + (len(audio) - N_FFT) // HOP)
    if n == 0:
        empty = np.zeros(0)
        return Frames(empty, empty, empty, empty.astype(int), empty.astype(int))
    # A strided view, not a gathered copy of every frame (the same samples, the same products)
    framed = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP][:n]
    spec = np.abs(np.fft.rfft(framed * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2 + 1e-12
    total = spec.sum(axis=1)
    db = 10 * np.log10(total / (N_FFT * N_FFT / 4) + 1e-12)  # about dBFS for a full-scale sine
    # The TONE_BINS strongest bins, summed in ascending order as a full sort would sum them
    top = np.sort(np.partition(spec, -TONE_BINS, axis=1)[:, -TONE_BINS:], axis=1)
    share = top.sum(axis=1) / total
    mag = np.sqrt(spec / total[:, None])
    flux = np.concatenate([[0.0], ((np.diff(mag, axis=0)) ** 2).sum(axis=1)])
    peak = spec.argmax(axis=1)
    masked = spec.copy()
    for d in range(-2, 3):
        masked[np.arange(n), np.clip(peak + d, 0, spec.shape[1] - 1)] = 0
    return Frames(db, flux, share, peak, masked.argmax(axis=1))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame ranges where ``mask`` is true."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _join(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _hz(b: int) -> float:
    return b * SAMPLE_RATE / N_FFT


def _label(peaks: list[tuple[int, int]]) -> str:
    """The tone's name from its frames' (strongest, second) bins."""
    near = 2 * SAMPLE_RATE / N_FFT
    if sum(any(abs(_hz(p) - f) <= near for p, _s in peaks) for f in SIT) >= 2:
        return "sit"
    lo, hi = sorted((_hz(int(np.median([p for p, _ in peaks]))), _hz(int(np.median([s for _, s in peaks])))))
    if any(abs(lo - f) <= near for f in DTMF_LOW) and any(abs(hi - f) <= near for f in DTMF_HIGH):
        return "dtmf"
    for (a, b), name in KNOWN_TONES.items():
        if abs(lo - a) <= near and abs(hi - b) <= near:
            return name
    return ""


def loud_threshold(db: np.ndarray) -> float:
    floor = float(np.percentile(db, 10)) if len(db) else LOUD_MIN_DBFS
    return min(max(floor + LOUD_ABOVE_FLOOR_DB, LOUD_MIN_DBFS), LOUD_MAX_DBFS)


def _block_mean(values: np.ndarray, mask: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over the ``mask``-ed frames within ``half`` frames of each frame; and their count."""
    v = np.concatenate([[0.0], np.cumsum(np.where(mask, values, 0.0))])
    k = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    n = len(values)
    lo, hi = np.clip(np.arange(n) - half, 0, n), np.clip(np.arange(n) + half + 1, 0, n)
    count = k[hi] - k[lo]
    return (v[hi] - v[lo]) / np.maximum(count, 1), count


def classify(audio: np.ndarray, *, channel: int, offset_s: float = 0.0) -> list[NonSpeech]:
    """Hold music and tones in one channel of float 16 kHz ``audio``, in time order."""
    f = frames(audio)
    if len(f.db) == 0:
        return []
    loud = f.db >= loud_threshold(f.db)
    tonal = loud & (f.peak_share >= TONE_PEAK_SHARE) & (f.flux < TONE_MAX_FLUX)
    tone_frames = np.zeros_like(tonal)
    for a, b in _runs(tonal):
        if b - a >= TONE_MIN_FRAMES - 1:
            tone_frames[max(0, a - 1) : b] = True  # a tone's first frame changed from what came before
    # Music: over a second around each frame, the spectrum of what is heard changes slowly.
    heard = loud & ~tone_frames
    flux, count = _block_mean(f.flux, heard, int(MUSIC_BLOCK_S / FRAME_S / 2))
    musical = heard & (flux < MUSIC_MAX_FLUX) & (count >= int(MUSIC_BLOCK_S / FRAME_S / 2))

    def at(frame: int) -> float:
        return round(offset_s + frame * FRAME_S, 3)

    tail = round(N_FFT / SAMPLE_RATE - FRAME_S, 3)  # the last frame reaches this far past its start
    holds = [(a, b) for a, b in _join(_runs(musical), int(MUSIC_JOIN_S / FRAME_S))
             if (b - a) * FRAME_S >= MUSIC_MIN_S]
    found = [NonSpeech(NonSpeechKind.hold, channel, at(a), at(b) + tail) for a, b in holds]
    # Back-to-back tones (SIT's three) are one; then a cadence of the same tone is one.
    tones = [(a, b, _label([(int(f.peak_bin[i]), int(f.second_bin[i])) for i in range(a, b) if tone_frames[i]]))
             for a, b in _join(_runs(tone_frames), 2) if not any(x <= a and b <= y for x, y in holds)]
    # An unnamed tone must be steady for a while: a sung or spoken vowel can be pure for a few frames.
    tones = [(a, b, label) for a, b, label in tones if label or (b - a) * FRAME_S >= UNNAMED_TONE_MIN_S]
    joined: list[tuple[int, int, str]] = []
    for a, b, label in tones:
        if joined and label and joined[-1][2] == label and a - joined[-1][1] <= int(TONE_JOIN_S / FRAME_S):
            joined[-1] = (joined[-1][0], b, label)
        else:
            joined.append((a, b, label))
    found += [NonSpeech(NonSpeechKind.tone, channel, at(a), at(b) + tail, label) for a, b, label in joined]
    return sorted(found, key=lambda x: x.start)


def merge_across_windows(found: list[NonSpeech], *, gap_s: float = 0.2) -> list[NonSpeech]:
    """Stretches of the same kind and channel cut by a window boundary joined again."""
    out: list[NonSpeech] = []
    for x in sorted(found, key=lambda x: (x.channel, x.kind, x.start)):
        last = out[-1] if out else None
        same = last is not None and (last.channel, last.kind, last.label) == (x.channel, x.kind, x.label)
        if last is not None and same and x.start - last.end <= gap_s:
            out[-1] = NonSpeech(x.kind, x.channel, last.start, max(last.end, x.end), x.label)
        else:
            out.append(x)
    return sorted(out, key=lambda x: (x.start, x.channel))
