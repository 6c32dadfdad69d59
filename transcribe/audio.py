"""Decode any accepted recording (PyAV/FFmpeg) to 16 kHz, one array per channel.

Channels are kept apart (planar resampling) because in a stereo call each channel is one speaker.
Samples are held as int16 to halve the memory of long calls (a 2-hour stereo call is ~460 MB);
the engine converts one window at a time to float32.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np

from callqc.errors import InvalidInput

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


class CorruptAudio(InvalidInput):
    """audio cannot be decoded"""


@dataclass(frozen=True)
class DecodedAudio:
    channels: list[np.ndarray]  # int16, SAMPLE_RATE, one array per channel
    source_rate: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1], what Whisper expects."""
    return samples.astype(np.float32) / 32768.0


def decode(source: bytes | Path | BinaryIO, *, name: str = "audio") -> DecodedAudio:
    """Decode ``source`` to 16 kHz int16 per channel; :class:`CorruptAudio` if that is impossible."""
    fh: BinaryIO | str = io.BytesIO(source) if isinstance(source, bytes | bytearray) else (
        str(source) if isinstance(source, Path) else source
    )
    try:
        with av.open(fh, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise CorruptAudio(f"{name}: no audio stream")
            stream = container.streams.audio[0]
            n_ch = stream.codec_context.channels or 1
            layout = stream.codec_context.layout.name if stream.codec_context.layout else None
            resampler = av.AudioResampler(format="s16p", layout=layout, rate=SAMPLE_RATE)
            pieces: list[list[np.ndarray]] = [[] for _ in range(n_ch)]
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    _append(pieces, out.to_ndarray())
            for out in resampler.resample(None):
                _append(pieces, out.to_ndarray())
            codec = stream.codec_context.name
            source_rate = stream.codec_context.sample_rate or 0
    except CorruptAudio:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise CorruptAudio(f"{name}: {type(exc).__name__}: {exc}") from exc
    channels = []
    for p in pieces:
        channels.append(np.concatenate(p) if p else np.zeros(0, np.int16))
        p.clear()  # free each channel's frames before joining the next: peak 1.5× the samples, not 2×
    if not channels or channels[0].size == 0:
        raise CorruptAudio(f"{name}: no audio samples")
    log.info("decode %s: %s %d Hz, %d channel(s), %.1f s", name, codec, source_rate, n_ch,
             len(channels[0]) / SAMPLE_RATE)
    return DecodedAudio(channels=channels, source_rate=source_rate, codec=codec)


def _append(pieces: list[list[np.ndarray]], planes: np.ndarray) -> None:
    # s16p gives shape (channels, samples)
    planes = planes.reshape(len(pieces), -1) if planes.ndim == 1 else planes
    for i in range(len(pieces)):
        pieces[i].append(planes[i].astype(np.int16, copy=True))


def quietest_cut(samples: np.ndarray, near: int, *, search: int = 5 * SAMPLE_RATE) -> int:
    """The sample index of the quietest 100 ms around ``near`` (cut long audio between words)."""
    lo, hi = max(0, near - search), min(len(samples), near + search)
    frame = SAMPLE_RATE // 10
    if hi - lo < 2 * frame:
        return near
    seg = samples[lo:hi].astype(np.float32)
    n = (hi - lo) // frame
    energy = (seg[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2
