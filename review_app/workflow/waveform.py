"""The player's waveform: a coarse peak envelope per channel, drawn server-side as SVG.

The envelope is computed from the same audio the user may hear (the original with ``pii``, else the
redacted copy) right after a media grant for that call was minted and audited; it is a few hundred
numbers per channel, not audio, so it writes no audit row of its own. The recording is read with one
ranged GET into a temporary file and decoded window by window (transcribe.audio), so a 2-hour call
is never held in memory as samples.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage.access import audio_variant, visible_call
from storage.db import session
from storage.retrieval import read_span
from storage.users import Principal
from transcribe.audio import SAMPLE_RATE, AudioStream

STEP_S = 0.1  # one peak per tenth of a second before the reduction to ``buckets``
BUCKETS = 600
LANE_H = 40
COLOURS = ["#1f6fb4", "#5b9e5b", "#9c7fc9", "#7fb8e6"]  # lane colours, also the labels' colours


@dataclass(frozen=True)
class Envelope:
    duration_s: float
    peaks: list[list[float]]  # per channel, ``buckets`` values in 0..1 (the loudest bucket of the call is 1)


def envelope(who: Principal, call_id: str, *, buckets: int = BUCKETS) -> Envelope:
    """The call's peak envelope as ``who`` may hear it (access checked again here)."""
    with session() as s:
        cid = visible_call(s, who, call_id).call_id
    span = read_span(cid, lambda size: (0, size), variant=audio_variant(who))
    step = int(STEP_S * SAMPLE_RATE)
    per_channel: list[list[np.ndarray]] = []
    with tempfile.NamedTemporaryFile(suffix="." + span.filename.rpartition(".")[2]) as tmp:
        for chunk in span.chunks:
            tmp.write(chunk)
        tmp.flush()
        with AudioStream(Path(tmp.name), name=cid) as stream:
            per_channel = [[] for _ in range(stream.n_channels)]
            for window in stream.windows():
                for ch, samples in enumerate(window.channels):
                    n = len(samples) // step * step
                    if n:
                        per_channel[ch].append(np.abs(samples[:n].astype(np.int32)).reshape(-1, step).max(axis=1))
            duration = stream.duration_s
    fine = [np.concatenate(parts) if parts else np.zeros(1, dtype=np.int32) for parts in per_channel]
    top = max(1, *(int(f.max()) for f in fine))
    peaks = []
    for f in fine:
        edges = np.linspace(0, len(f), buckets + 1).astype(int)
        peaks.append([round(float(f[a:max(b, a + 1)].max()) / top, 3) if a < len(f) else 0.0
                      for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return Envelope(duration, peaks)


def svg(env: Envelope) -> str:
    """The envelope as an SVG, one lane per channel (mirrored peak bars); numbers only, no text."""
    n = len(env.peaks[0]) if env.peaks else 0
    height = LANE_H * len(env.peaks)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {height}" preserveAspectRatio="none" '
             f'width="100%" height="{height}">']
    for lane, peaks in enumerate(env.peaks):
        mid = lane * LANE_H + LANE_H / 2
        path = "".join(f"M{x} {mid - p * (LANE_H / 2 - 2):.1f}V{mid + p * (LANE_H / 2 - 2) + 0.5:.1f}"
                       for x, p in enumerate(peaks))
        parts.append(f'<path d="{path}" stroke="{COLOURS[lane % len(COLOURS)]}" stroke-width="1" '
                     'vector-effect="non-scaling-stroke"/>')
    parts.append("</svg>")
    return "".join(parts)
