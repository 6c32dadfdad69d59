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
from typing import Any, BinaryIO

import av
import av.error
import numpy as np

from callqc.errors import InvalidInput
from storage.settings import get_settings

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
            buf = _Buffer(n_ch, _expected_samples(container, stream))
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    buf.append(out.to_ndarray())
            for out in resampler.resample(None):
                buf.append(out.to_ndarray())
            codec = stream.codec_context.name
            source_rate = stream.codec_context.sample_rate or 0
    except CorruptAudio:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise CorruptAudio(f"{name}: {type(exc).__name__}: {exc}") from exc
    channels = buf.channels()
    if not channels or channels[0].size == 0:
        raise CorruptAudio(f"{name}: no audio samples")
    log.info("decode %s: %s %d Hz, %d channel(s), %.1f s", name, codec, source_rate, n_ch,
             len(channels[0]) / SAMPLE_RATE)
    return DecodedAudio(channels=channels, source_rate=source_rate, codec=codec)


def _expected_samples(container: Any, stream: Any) -> int:
    """Samples at 16 kHz the container says it holds (0 when it does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000
    else:
        return 0
    return int(min(seconds, get_settings().max_duration_s + 60) * SAMPLE_RATE) + SAMPLE_RATE


class _Buffer:
    """Decoded samples written into one preallocated int16 array (channels × samples).

    Joining thousands of frame arrays at the end costs twice the audio in memory and leaves the
    heap fragmented: a 2-hour stereo call peaked at 1 GB for 460 MB of samples. Sized from the
    container's duration, this peaks at the samples plus one frame; it grows by half when a
    container under-reports.
    """

    def __init__(self, n_ch: int, expected: int) -> None:
        self.data = np.empty((n_ch, max(expected, SAMPLE_RATE)), dtype=np.int16)
        self.n = 0

    def append(self, planes: np.ndarray) -> None:
        # s16p gives shape (channels, samples)
        planes = planes.reshape(self.data.shape[0], -1) if planes.ndim == 1 else planes
        k = planes.shape[1]
        if self.n + k > self.data.shape[1]:
            grown = np.empty((self.data.shape[0], max(self.n + k, self.data.shape[1] * 3 // 2)), np.int16)
            grown[:, : self.n] = self.data[:, : self.n]
            self.data = grown
        self.data[:, self.n : self.n + k] = planes
        self.n += k

    def channels(self) -> list[np.ndarray]:
        used = self.data[:, : self.n]
        if self.n < self.data.shape[1] * 0.9:  # over-reported duration: don't keep the slack
            used = used.copy()
        return list(used)


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
