"""Audio fingerprints of recorded prompts: the prompt's band-energy pattern, found again in a channel.

A recorded prompt (an IVR greeting, "your call may be recorded", a queue announcement) is the same
recording every time it plays, so its energy in each frequency band rises and falls the same way
over time, whatever the μ-law coding or level. The fingerprint is that pattern: log energy in
:data:`N_BANDS` bands of the telephone band (250–3500 Hz, which everything a PBX records keeps),
one row every 16 ms. A prompt is heard where a stretch of the channel correlates with its pattern,
band by band, above :data:`MIN_CORRELATION` (normalised cross-correlation, computed for every
offset at once with FFTs). Another voice saying the same words, or other speech, correlates far
less, so an agent reading the script is never taken for the prompt.

Spectral-peak landmarks (hashes of peak pairs) were tried first: on the same prompt shifted by half a
16 ms frame, only about half of the peaks came back in the same time/frequency bin, so fewer than 20 %
of the hashes matched; band energies over 32 ms frames barely move with such a shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transcribe.audio import SAMPLE_RATE

N_FFT = 512  # 32 ms at 16 kHz
HOP = 256  # 16 ms a row
FRAME_S = HOP / SAMPLE_RATE
N_BANDS = 16
LO_HZ, HI_HZ = 250.0, 3500.0
FLOOR = 1e-2  # energy floor: digital silence and μ-law idle noise look alike
MIN_CORRELATION = 0.75  # a prompt playing scores 0.9-1; other speech 0.1-0.3, other prompts of the same voice up to 0.5
MIN_FRAMES = 125  # 2 s: shorter prompts of one voice (single words) correlate by chance up to 0.65


@dataclass(frozen=True)
class Fingerprint:
    """Log band energies, one row per 16 ms frame (``float32``, shape frames × :data:`N_BANDS`)."""

    bands: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.bands.shape[0])

    @property
    def duration_s(self) -> float:
        return round(self.n_frames * FRAME_S, 3)

    def to_bytes(self) -> bytes:
        return self.bands.astype("<f2").tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Fingerprint:
        return cls(np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(-1, N_BANDS))


@dataclass(frozen=True)
class Hit:
    """Where a prompt plays in the searched audio, in seconds from its start."""

    start_s: float
    end_s: float
    correlation: float


def _band_matrix() -> np.ndarray:
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    edges = np.geomspace(LO_HZ, HI_HZ, N_BANDS + 1)
    m = np.zeros((len(freqs), N_BANDS), dtype=np.float32)
    for b in range(N_BANDS):
        m[(freqs >= edges[b]) & (freqs < edges[b + 1]), b] = 1.0
    return m


_BANDS = _band_matrix()
_WINDOW = np.hanning(N_FFT).astype(np.float32)


def fingerprint(samples: np.ndarray) -> Fingerprint:
    """The fingerprint of ``samples`` (int16, :data:`~transcribe.audio.SAMPLE_RATE`)."""
    from scipy import fft as sp_fft  # here, not at import: a worker without known prompts never needs it

    x = samples.astype(np.float32) / 32768.0
    if len(x) < N_FFT:
        return Fingerprint(np.zeros((0, N_BANDS), dtype=np.float32))
    n = 1 + (len(x) - N_FFT) // HOP
    rows = []
    for lo in range(0, n, 4096):  # bounded scratch memory on long windows
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(lo, min(n, lo + 4096))[:, None]
        power = np.abs(sp_fft.rfft(x[idx] * _WINDOW, axis=1)) ** 2
        rows.append(np.log(power @ _BANDS + FLOOR).astype(np.float32))
    return Fingerprint(np.concatenate(rows))


def correlation(prompt: Fingerprint, audio: Fingerprint) -> np.ndarray:
    """Normalised cross-correlation of ``prompt`` with every stretch of ``audio`` of its length
    (averaged over bands); one value per start frame."""
    p, a, n = prompt.bands, audio.bands, prompt.n_frames
    if n < MIN_FRAMES or audio.n_frames < n:
        return np.zeros(0, dtype=np.float32)
    p = p - p.mean(axis=0)
    p_norm = np.sqrt((p**2).sum(axis=0))
    # sliding sums of the audio (and its square) over n frames, per band: the stretch's mean and norm
    c1 = np.vstack([np.zeros((1, N_BANDS)), np.cumsum(a, axis=0, dtype=np.float64)])
    c2 = np.vstack([np.zeros((1, N_BANDS)), np.cumsum(a.astype(np.float64) ** 2, axis=0)])
    s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
    a_norm = np.sqrt(np.maximum(s2 - s1**2 / n, 0.0))
    # sum_t p[t] * a[k + t]: p has zero mean, so the stretch's own mean drops out
    from scipy.signal import fftconvolve  # here, not at import: scipy.signal costs a worker ~40 % of its start-up

    dot = fftconvolve(a, p[::-1], mode="valid", axes=0)
    denom = a_norm * p_norm
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 1e-6, dot / np.where(denom > 1e-6, denom, 1.0), 0.0)
    return np.asarray(r.mean(axis=1), dtype=np.float32)


def find(prompt: Fingerprint, audio: Fingerprint) -> list[Hit]:
    """Every place ``prompt`` plays whole in ``audio``, in time order (none overlapping)."""
    r = correlation(prompt, audio)
    hits: list[Hit] = []
    above = np.flatnonzero(r >= MIN_CORRELATION)
    while above.size:
        # the best offset of this run of high correlation, then past the prompt's end
        run = above[above < above[0] + prompt.n_frames]
        k = int(run[np.argmax(r[run])])
        start = k * FRAME_S
        hits.append(Hit(round(start, 3), round(start + prompt.duration_s, 3), round(float(r[k]), 3)))
        above = above[above >= k + prompt.n_frames]
    return hits
