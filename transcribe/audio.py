"""Decode any accepted recording (PyAV/FFmpeg) to 16 kHz, one array per channel.

Channels are kept apart (planar resampling) because in a stereo call each channel is one speaker.
Workers decode window by window (:class:`AudioStream`): a 2-hour stereo call would be ~460 MB of
int16 held whole, a window is ~11 MB. The engine converts one window at a time to float32.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error
import numpy as np

from storage.errors import InvalidInput

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


class CorruptAudio(InvalidInput):
    """audio cannot be decoded"""


WINDOW_S = 180  # longest audio handed to the model at once: VAD and decoding scratch memory grows with it
# (measured on a 2-hour call: 600 s windows peaked ~470 MB higher than 150 s, at the same speed)
CUT_SEARCH_S = 5  # no pause found: a window ends at the quietest point within 2 × this many seconds before its end
PAUSE_SEARCH_S = 30  # a window ends in the longest pause of all channels within this many seconds before its
# nominal end: a cut between two close lines leaves the first one a short chunk alone, decoded worse (issue 19)
MIN_PAUSE_S = 0.3  # a quiet stretch shorter than this is a breath or a stop consonant, not a pause
QUIET_DB = 10.0  # a 100 ms frame is quiet within this many dB of the quietest frame searched (any noise floor)
SILENCE_RMS = 30  # ... or below this RMS per channel (about -60 dBFS): digital silence counts as quiet


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of the call, every channel: the unit the engine transcribes."""

    start: int  # first sample, counted from the call's start at SAMPLE_RATE
    channels: list[np.ndarray]  # int16, one array per channel, all the same length

    @property
    def offset_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def samples(self) -> int:
        return len(self.channels[0]) if self.channels else 0


@dataclass(frozen=True)
class DecodedAudio:
    """A whole decoded call in memory (tests, short calls); workers stream with :class:`AudioStream`."""

    channels: list[np.ndarray]  # int16, SAMPLE_RATE, one array per channel
    source_rate: int
    codec: str

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0

    def windows(self, *, window_s: float = WINDOW_S) -> Iterator[AudioWindow]:
        planes = np.stack(self.channels)
        step = SAMPLE_RATE  # fed a second at a time, as decoded frames would be
        yield from cut_windows((planes[:, i : i + step] for i in range(0, planes.shape[1], step)),
                               len(self.channels), window_s=window_s)


# Headerless formats the recorder accepts (the call's ``meta.audio_format``): FFmpeg demuxer names.
RAW_DEMUXERS = frozenset({"gsm", "mulaw", "alaw", "s16le", "g722"})


def format_hint(hint: Mapping[str, Any] | None, name: str) -> tuple[str | None, dict[str, str]]:
    """FFmpeg's format name and options for a headerless recording; (None, {}) to let FFmpeg detect."""
    if not hint:
        return None, {}
    fmt, rate = hint.get("format"), hint.get("sample_rate")
    if fmt not in RAW_DEMUXERS or not isinstance(rate, int) or not 1000 <= rate <= 192_000:
        raise CorruptAudio(f"{name}: unknown audio_format {dict(hint)!r}")
    return str(fmt), {"sample_rate": str(rate)}


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1], what Whisper expects."""
    return samples.astype(np.float32) / 32768.0


def _open_source(source: bytes | Path | BinaryIO) -> BinaryIO | str:
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    return str(source) if isinstance(source, Path) else source


class AudioStream:
    """A recording decoded window by window: memory stays at about two windows however long the call.

    Opening probes the container (:class:`CorruptAudio` if it holds no decodable audio stream);
    :meth:`windows` decodes to 16 kHz int16, channels kept apart, and yields
    :class:`AudioWindow` pieces of about ``window_s`` cut at the quietest half second of all channels
    near the nominal end, so no window boundary falls inside a word. A decoding error part-way
    raises :class:`CorruptAudio` from the iteration. Use as a context manager.
    """

    def __init__(self, source: bytes | Path | BinaryIO, *, name: str = "audio",
                 audio_format: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.decoded = 0  # samples per channel decoded so far
        fmt, options = format_hint(audio_format, name)
        try:
            self._container = av.open(_open_source(source), mode="r", metadata_errors="ignore",
                                      format=fmt, options=options)
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise CorruptAudio(f"{name}: {type(exc).__name__}: {exc}") from exc
        if not self._container.streams.audio:
            self._container.close()
            raise CorruptAudio(f"{name}: no audio stream")
        self._stream = self._container.streams.audio[0]
        ctx = self._stream.codec_context
        self.n_channels: int = ctx.channels or 1
        self.codec: str = ctx.name
        self.source_rate: int = ctx.sample_rate or 0
        self._layout = ctx.layout.name if ctx.layout else None

    @property
    def duration_s(self) -> float:
        """Seconds decoded so far (the whole call once :meth:`windows` is exhausted)."""
        return self.decoded / SAMPLE_RATE

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def _counted(self, planes: np.ndarray) -> np.ndarray:
        planes = planes.reshape(self.n_channels, -1)  # s16p: channels × samples
        self.decoded += planes.shape[1]
        return planes

    def _decoded(self) -> Iterator[av.AudioFrame]:
        """Frames; a *last* packet too short to decode (a part-block the writer left when it stopped,
        e.g. in GSM/WAV49) is dropped, as the recorder's probe drops it, so both count the same."""
        packets = self._container.demux(self._stream)
        pending = next(packets, None)
        while pending is not None:
            following = next(packets, None)
            try:
                yield from self._stream.decode(pending)
            except av.error.FFmpegError:
                if following is not None and following.size:
                    raise
                log.info("decode %s: dropped a last part-packet of %s bytes", self.name, pending.size)
            pending = following

    def _frames(self) -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="s16p", layout=self._layout, rate=SAMPLE_RATE)
        try:
            for frame in self._decoded():
                for out in resampler.resample(frame):
                    yield self._counted(out.to_ndarray())
            for out in resampler.resample(None):
                yield self._counted(out.to_ndarray())
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise CorruptAudio(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    def windows(self, *, window_s: float = WINDOW_S) -> Iterator[AudioWindow]:
        yield from cut_windows(self._frames(), self.n_channels, window_s=window_s)
        if self.decoded == 0:
            raise CorruptAudio(f"{self.name}: no audio samples")
        log.info("decode %s: %s %d Hz, %d channel(s), %.1f s", self.name, self.codec, self.source_rate,
                 self.n_channels, self.duration_s)


def cut_windows(frames: Iterable[np.ndarray], n_channels: int, *, window_s: float = WINDOW_S
                ) -> Iterator[AudioWindow]:
    """Windows of at most ``window_s`` from ``frames`` (channels × samples pieces, in order), each ended
    at :func:`pause_cut` (the longest pause within the last PAUSE_SEARCH_S, at most half the window),
    or where no pause is found at :func:`quietest_cut` within the last 2 × CUT_SEARCH_S."""
    size = int(window_s * SAMPLE_RATE)
    search = CUT_SEARCH_S * SAMPLE_RATE
    pause_search = min(PAUSE_SEARCH_S * SAMPLE_RATE, size // 2)
    # One reusable buffer: a window plus a few frames; yielded windows are copies.
    buf = np.empty((n_channels, size + 4 * SAMPLE_RATE), dtype=np.int16)
    n, start = 0, 0
    for planes in frames:
        k = planes.shape[1]
        if n + k > buf.shape[1]:
            grown = np.empty((n_channels, n + k), dtype=np.int16)
            grown[:, :n] = buf[:, :n]
            buf = grown
        buf[:, n : n + k] = planes
        n += k
        while n >= size:
            cut = pause_cut(buf[:, :size], pause_search)
            if cut is None:
                cut = quietest_cut(buf[:, :size], size - search, search=search)
            yield AudioWindow(start, [buf[ch, :cut].copy() for ch in range(n_channels)])
            buf[:, : n - cut] = buf[:, cut:n]
            n -= cut
            start += cut
    if n:
        yield AudioWindow(start, [buf[ch, :n].copy() for ch in range(n_channels)])


def decode(source: bytes | Path | BinaryIO, *, name: str = "audio",
           audio_format: Mapping[str, Any] | None = None) -> DecodedAudio:
    """The whole recording decoded to 16 kHz int16 per channel; :class:`CorruptAudio` if impossible."""
    with AudioStream(source, name=name, audio_format=audio_format) as stream:
        parts = list(stream.windows())
        channels = [np.concatenate([w.channels[ch] for w in parts]) for ch in range(stream.n_channels)]
        return DecodedAudio(channels=channels, source_rate=stream.source_rate, codec=stream.codec)


def pause_cut(planes: np.ndarray, search: int) -> int | None:
    """The middle of the longest pause of all channels (``planes``: channels × samples) within the last
    ``search`` samples, the latest one on a tie; None if no quiet stretch lasts MIN_PAUSE_S there.

    A 100 ms frame is quiet when every channel together is within QUIET_DB of the quietest frame
    searched (or at digital silence) and QUIET_DB below the loud frames: relative, so a line's noise
    floor or comfort noise is a pause too, and a stretch of even level (a tone, music) has none.
    """
    frame = SAMPLE_RATE // 10
    n = search // frame
    if n < 2:
        return None
    lo = planes.shape[1] - n * frame
    energy = np.zeros(n, dtype=np.float32)
    for ch in range(planes.shape[0]):
        frames = planes[ch, lo:].reshape(n, frame)
        for i in range(0, n, 50):  # 5 s at a time in float: the search adds ~0.3 MB, not 2 × 4 bytes × search
            block = frames[i : i + 50].astype(np.float32)
            energy[i : i + 50] += (block * block).mean(axis=1)
    ratio = 10 ** (QUIET_DB / 10)
    floor = max(float(energy.min()) * ratio, SILENCE_RMS**2 * planes.shape[0])
    quiet = (energy <= floor) & (energy * ratio <= float(np.percentile(energy, 90)))  # a steady tone: no pause
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    if not len(lengths) or lengths.max() * frame < MIN_PAUSE_S * SAMPLE_RATE:
        return None
    best = len(lengths) - 1 - int(np.argmax(lengths[::-1]))  # the latest of the longest
    return lo + (int(starts[best]) + int(ends[best])) * frame // 2


def quietest_cut(samples: np.ndarray, near: int, *, search: int = CUT_SEARCH_S * SAMPLE_RATE) -> int:
    """A sample index within ``search`` of ``near`` where nobody speaks: the middle of the quietest
    half second (so a pause between turns wins over a breath between words), the latest one on a tie
    (windows stay as long as allowed).

    ``samples`` is one channel or channels × samples; the energy of all channels counts.
    """
    planes = samples.reshape(1, -1) if samples.ndim == 1 else samples
    length = planes.shape[1]
    lo, hi = max(0, near - search), min(length, near + search)
    frame = SAMPLE_RATE // 10
    if hi - lo < 2 * frame:
        return near
    n = (hi - lo) // frame
    seg = planes[:, lo : lo + n * frame].astype(np.float32)
    energy = (seg.reshape(planes.shape[0], n, frame) ** 2).mean(axis=2).sum(axis=0)
    smooth = np.convolve(energy, np.ones(5, dtype=np.float32), mode="same")
    best = n - 1 - int(np.argmin(smooth[::-1]))
    return lo + best * frame + frame // 2
