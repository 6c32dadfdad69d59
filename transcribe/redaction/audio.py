"""Audio edits with pydub: the redacted copy of a call, clips and MP3/OGG exports.

pydub works on PCM. Calls are decoded here with PyAV (in-process FFmpeg, already used by
transcription) into a pydub ``AudioSegment`` at the file's own sample rate and channel count, so
no ffmpeg binary is needed to read any accepted format or to write WAV. Writing MP3 or OGG goes
through pydub's ``export``, which runs the ``ffmpeg`` binary: it must be on PATH for those
formats (a clear error says so). The whole call is held as PCM while it is edited (a 2-hour stereo
call at 8 kHz is ~230 MB).

The redacted copy replaces each hit's stretch of *its speaker's channel* (plus a margin) with a
tone or silence that fades in and out; every sample outside those stretches, and every sample of
the other channel, is copied unchanged, and the length stays the same to the sample.
"""

from __future__ import annotations

import io
import math
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error
import numpy as np

from storage.errors import InvalidInput, ServiceUnavailable
from transcribe.audio import format_hint

with warnings.catch_warnings():
    # pydub 0.25.1 imports audioop (deprecated in 3.11, gone in 3.13) and warns when it looks for ffmpeg
    warnings.simplefilter("ignore")
    from pydub import AudioSegment

TONE_HZ = 1000
TONE_DBFS = -20.0
EXPORT_FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


class UndecodableAudio(InvalidInput):
    """audio cannot be decoded"""


class FfmpegMissing(ServiceUnavailable):
    """the ffmpeg program is not on PATH (needed to write MP3 and OGG)"""


@dataclass(frozen=True)
class Cut:
    channel: int | None  # None: every channel (a mono call, or a speaker without a channel)
    start: float
    end: float


def decode(source: bytes | Path | BinaryIO, *, name: str = "audio",
           audio_format: Mapping[str, Any] | None = None) -> AudioSegment:
    """Any accepted recording (headerless PBX formats by their ``audio_format``) as a pydub
    AudioSegment: 16-bit PCM at its own rate and channels."""
    src: BinaryIO | str = io.BytesIO(source) if isinstance(source, bytes) else (
        str(source) if isinstance(source, Path) else source)
    fmt, options = format_hint(audio_format, name)
    try:
        with av.open(src, mode="r", format=fmt, options=options, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio(f"{name}: no audio stream")
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            channels, rate = ctx.channels or 1, ctx.sample_rate or 8000
            resampler = av.AudioResampler(format="s16", layout=ctx.layout.name if ctx.layout else None, rate=rate)
            chunks: list[bytes] = []
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(None))
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise UndecodableAudio(f"{name}: {type(exc).__name__}: {exc}") from exc
    data = b"".join(chunks)
    if not data:
        raise UndecodableAudio(f"{name}: no audio samples")
    return AudioSegment(data=data, sample_width=2, frame_rate=rate, channels=channels)


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _sine(n: int, rate: int) -> np.ndarray:
    """``n`` samples of the TONE_HZ tone at TONE_DBFS, as pydub's ``Sine`` generator makes them
    (sample by sample in Python, ~1 µs each: a second of tone cost ~10 ms of CPU)."""
    gain = 10 ** (TONE_DBFS / 20)
    return (np.sin(TONE_HZ * 2 * math.pi / rate * np.arange(n)) * 32767 * gain).astype(np.int16)


def _cover(n: int, rate: int, mode: str, fade_ms: int) -> AudioSegment:
    """``n`` samples of tone or silence, faded in and out."""
    silence = AudioSegment(data=b"\0\0" * n, sample_width=2, frame_rate=rate, channels=1)
    if mode == "silence" or n == 0:
        return silence
    tone = silence._spawn(_sine(n, rate).tobytes())
    fade = min(fade_ms, int(len(tone) / 2))
    if fade > 0:
        tone = tone.fade_in(fade).fade_out(fade)
    # pydub's fades and slices work in milliseconds: pin the length to the sample
    samples = np.frombuffer(tone.raw_data, dtype=np.int16)[:n]
    samples = np.pad(samples, (0, n - len(samples)))
    return silence._spawn(samples.astype(np.int16).tobytes())


def redact(audio: AudioSegment, cuts: Sequence[Cut], *, margin_s: float, mode: str, fade_ms: int) -> AudioSegment:
    """The call with each cut's channel stretch (± ``margin_s``) covered (see module docstring)."""
    rate, total = audio.frame_rate, int(audio.frame_count())
    monos = audio.split_to_mono() if audio.channels > 1 else [audio]
    by_channel: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(monos))}
    for cut in cuts:
        a = max(0, math.floor((cut.start - margin_s) * rate))
        b = min(total, math.ceil((cut.end + margin_s) * rate))
        if b <= a:
            continue
        targets = range(len(monos)) if cut.channel is None or len(monos) == 1 else [cut.channel]
        for ch in targets:
            if 0 <= ch < len(monos):
                by_channel[ch].append((a, b))
    out = []
    for ch, mono in enumerate(monos):
        spans = _merged(by_channel[ch])
        if not spans:
            out.append(mono)
            continue
        parts, pos = [], 0
        for a, b in spans:
            parts.append(mono.get_sample_slice(pos, a))
            parts.append(_cover(b - a, rate, mode, fade_ms))
            pos = b
        parts.append(mono.get_sample_slice(pos, total))
        # join raw bytes: AudioSegment "+" may cross-fade or re-sync; this keeps every sample as it was
        out.append(mono._spawn(b"".join(p.raw_data for p in parts)))
    if len(out) == 1:
        return out[0]
    return AudioSegment.from_mono_audiosegments(*out)


def check_range(start: float, end: float) -> None:
    if not (0 <= start < end) or not math.isfinite(end):
        raise InvalidInput(f"clip {start:g}–{end:g} s: the start must be before the end and not negative")


def clip(audio: AudioSegment, start: float, end: float) -> AudioSegment:
    """Seconds ``start``–``end`` of the call, every channel."""
    check_range(start, end)
    rate, total = audio.frame_rate, int(audio.frame_count())
    a, b = math.floor(start * rate), min(total, math.ceil(end * rate))
    if a >= total:
        raise InvalidInput(f"clip starts at {start:g} s, after the call's end ({total / rate:.1f} s)")
    return audio.get_sample_slice(a, b)


def export(audio: AudioSegment, fmt: str) -> bytes:
    """The audio as WAV (no external program), MP3 or OGG/Vorbis (ffmpeg on PATH)."""
    fmt = fmt.lower()
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    if fmt != "wav" and shutil.which("ffmpeg") is None:
        raise FfmpegMissing(f"install FFmpeg to write {fmt.upper()}")
    buf = io.BytesIO()
    codec = {"ogg": "libvorbis"}.get(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydub's subprocess handling warns on newer Pythons
        audio.export(buf, format=fmt, codec=codec)
    return buf.getvalue()
