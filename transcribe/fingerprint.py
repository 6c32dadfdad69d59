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


def _band_bins(n_fft: int, rate: float) -> np.ndarray:
    """The first FFT bin of every band, then the end of the last: the bands are adjacent runs of
    bins, summed with ``np.add.reduceat`` (a matrix product cost 5× more: BLAS threads for a 16-column result)."""
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    edges = np.geomspace(LO_HZ, HI_HZ, N_BANDS + 1)
    return np.searchsorted(freqs, edges, side="left")


def _band_power(power: np.ndarray, bins: np.ndarray) -> np.ndarray:
    return np.add.reduceat(power[:, bins[0] : bins[-1]], bins[:-1] - bins[0], axis=1)


_BINS = _band_bins(N_FFT, SAMPLE_RATE)
_WINDOW = np.hanning(N_FFT).astype(np.float32)


def fingerprint(samples: np.ndarray) -> Fingerprint:
    """The fingerprint of ``samples`` (int16, :data:`~transcribe.audio.SAMPLE_RATE`)."""
    x = samples.astype(np.float32) / 32768.0
    if len(x) < N_FFT:
        return Fingerprint(np.zeros((0, N_BANDS), dtype=np.float32))
    n = 1 + (len(x) - N_FFT) // HOP
    rows = []
    for lo in range(0, n, 4096):  # bounded scratch memory on long windows
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(lo, min(n, lo + 4096))[:, None]
        power = np.abs(np.fft.rfft(x[idx] * _WINDOW, axis=1)) ** 2
        rows.append(np.log(_band_power(power, _BINS) + FLOOR).astype(np.float32))
    return Fingerprint(np.concatenate(rows))


def _fast_len(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ ``n``: FFT lengths that factor into small primes are fast."""
    best = 1 << max(0, (n - 1).bit_length())
    f3 = 1
    while f3 < best:
        f5 = f3
        while f5 < best:
            m = f5
            while m < n:
                m *= 2
            best = min(best, m)
            f5 *= 5
        f3 *= 3
    return best


def _ncc(p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of pattern ``p`` (rows × bands) with every stretch of ``a`` of its
    length, averaged over bands; one value per start row (numpy's FFT: SciPy costs a worker ~1 s of
    CPU to import)."""
    n = p.shape[0]
    p = p - p.mean(axis=0)
    p_norm = np.sqrt((p**2).sum(axis=0))
    # sliding sums of the audio (and its square) over n rows, per band: the stretch's mean and norm
    c1 = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0, dtype=np.float64)])
    c2 = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a.astype(np.float64) ** 2, axis=0)])
    s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
    a_norm = np.sqrt(np.maximum(s2 - s1**2 / n, 0.0))
    # sum_t p[t] * a[k + t] for every k (p has zero mean, so the stretch's own mean drops out): a
    # circular correlation over a length ≥ len(a) never wraps for the offsets kept
    m = a.shape[0]
    size = _fast_len(m)
    dot = np.fft.irfft(np.fft.rfft(a, size, axis=0) * np.conj(np.fft.rfft(p, size, axis=0)), size,
                       axis=0)[: m - n + 1]
    denom = a_norm * p_norm
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 1e-6, dot / np.where(denom > 1e-6, denom, 1.0), 0.0)
    return np.asarray(r.mean(axis=1), dtype=np.float32)


def correlation(prompt: Fingerprint, audio: Fingerprint) -> np.ndarray:
    """Normalised cross-correlation of ``prompt`` with every stretch of ``audio`` of its length
    (averaged over bands); one value per start frame."""
    if prompt.n_frames < MIN_FRAMES or audio.n_frames < prompt.n_frames:
        return np.zeros(0, dtype=np.float32)
    return _ncc(prompt.bands, audio.bands)


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


# The coarse pass. Most of a search's CPU went into the fine fingerprint of the whole window (a
# 512-point FFT every 16 ms) and into correlating every prompt with it. The coarse pass reads the
# window once at a quarter of the rows — one FFT per 64 ms block of the 8 kHz band (a PBX's audio
# holds nothing above 4 kHz) — and correlates each prompt's coarse pattern with it; only where that
# passes COARSE_MIN is the fine fingerprint made, of that stretch alone, and the stretch searched as
# before (same frames, same MIN_CORRELATION). A hit therefore is one the whole-window search makes;
# the coarse pass can only miss one, and its threshold sits far below what a playing scores.
COARSE_ROWS = 4  # fine rows per coarse row (64 ms)
COARSE_BLOCK = HOP * COARSE_ROWS // 2  # samples per coarse row at 8 kHz (512)
COARSE_MIN = 0.5  # playings scored 0.90-0.92 on the coarse pass, anything else at most 0.40 (docs/benchmarks.md)
COARSE_MARGIN_S = 0.5  # audio either side of a coarse candidate given to the fine search


_BINS_8K = _band_bins(COARSE_BLOCK, SAMPLE_RATE / 2)
_WINDOW_8K = np.hanning(COARSE_BLOCK).astype(np.float32)


def coarse(samples: np.ndarray) -> np.ndarray:
    """Log band energies of ``samples`` (int16, 16 kHz), one row per 64 ms block of its 8 kHz band."""
    x = samples[::2].astype(np.float32) / 32768.0
    n = len(x) // COARSE_BLOCK
    if n == 0:
        return np.zeros((0, N_BANDS), dtype=np.float32)
    power = np.abs(np.fft.rfft(x[: n * COARSE_BLOCK].reshape(n, COARSE_BLOCK) * _WINDOW_8K, axis=1)) ** 2
    # a 64 ms block at 8 kHz holds twice the bins of a fine frame, each twice the power: ÷ 4 puts
    # the energy floor where the fine fingerprint has it
    return np.log(_band_power(power, _BINS_8K) / 4 + FLOOR).astype(np.float32)


def coarse_of(prompt: Fingerprint) -> np.ndarray:
    """A prompt's coarse pattern, from its stored fingerprint: the energy of every COARSE_ROWS rows."""
    n = prompt.n_frames // COARSE_ROWS
    power = np.exp(prompt.bands[: n * COARSE_ROWS].astype(np.float64)).reshape(n, COARSE_ROWS, N_BANDS)
    return np.log(power.mean(axis=1)).astype(np.float32)


def search(prompt: Fingerprint, pattern: np.ndarray, samples: np.ndarray, rough: np.ndarray) -> list[Hit]:
    """:func:`find` over ``samples`` (int16, 16 kHz), the fine search only where the coarse pass
    (``pattern`` = :func:`coarse_of` the prompt, ``rough`` = :func:`coarse` of ``samples``) sees it."""
    if prompt.n_frames < MIN_FRAMES or len(pattern) < 2 or rough.shape[0] < len(pattern):
        return []
    r = _ncc(pattern, rough)
    above = np.flatnonzero(r >= COARSE_MIN)
    margin = int(COARSE_MARGIN_S * SAMPLE_RATE) // HOP * HOP  # on the fine frame grid of the window
    hits: list[Hit] = []
    while above.size:
        k = int(above[0])
        # the stretch: every candidate start within one prompt's length, ± the margin
        run = above[above < k + len(pattern)]
        lo = max(0, int(run[0]) * COARSE_BLOCK * 2 - margin)
        hi = min(len(samples), int(run[-1]) * COARSE_BLOCK * 2 + prompt.n_frames * HOP + N_FFT + margin)
        for h in find(prompt, fingerprint(samples[lo:hi])):
            start = round(lo / SAMPLE_RATE + h.start_s, 3)
            if not hits or start >= hits[-1].end_s:
                hits.append(Hit(start, round(start + prompt.duration_s, 3), h.correlation))
        above = above[above > run[-1]]
    return hits
