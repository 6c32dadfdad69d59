"""Tiny test recordings in every format the recorder accepts, made with ffmpeg, and broken ones.

Tones and noise are enough for the recorder: it probes, hashes and stores; it does not listen.
Plain 16-bit PCM WAV is written by Python's own ``wave`` module, so the many tests that only need
"a recording" run without ffmpeg; every other codec needs the ffmpeg command.
"""

from __future__ import annotations

import math
import subprocess
import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

from tests.services import require_tool


@dataclass(frozen=True)
class Fmt:
    name: str  # test id
    suffix: str  # file name suffix
    codec_args: tuple[str, ...]  # ffmpeg output options
    codec: str  # what the probe must report
    ext: str  # the object key's extension the recorder must choose
    rate: int = 8000


# Each accepted container/codec pair, as a PBX or a phone system writes it.
FORMATS: tuple[Fmt, ...] = (
    Fmt("wav-pcm16", ".wav", ("-c:a", "pcm_s16le"), "pcm_s16le", "wav"),
    Fmt("wav-ulaw", ".wav", ("-c:a", "pcm_mulaw"), "pcm_mulaw", "wav"),
    Fmt("wav-alaw", ".wav", ("-c:a", "pcm_alaw"), "pcm_alaw", "wav"),
    Fmt("flac", ".flac", ("-c:a", "flac"), "flac", "flac"),
    Fmt("mp3", ".mp3", ("-c:a", "libmp3lame", "-b:a", "32k"), "mp3", "mp3", rate=16000),
    Fmt("opus", ".opus", ("-c:a", "libopus", "-b:a", "16k"), "opus", "opus", rate=48000),
    Fmt("m4a", ".m4a", ("-c:a", "aac", "-b:a", "32k"), "aac", "m4a", rate=16000),
)


def ffmpeg() -> str:
    """The ffmpeg command; the calling test skips (or, when services are required, fails) without it."""
    return require_tool("ffmpeg")


def make_audio(
    path: Path,
    *,
    seconds: float = 1.0,
    channels: int = 2,
    rate: int = 8000,
    codec_args: tuple[str, ...] = ("-c:a", "pcm_s16le"),
) -> Path:
    """A recording of ``seconds`` with a different tone per channel (left 440 Hz, right 660 Hz, ...)."""
    inputs: list[str] = []
    for ch in range(channels):
        inputs += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={440 + 220 * ch}:sample_rate={rate}:duration={seconds}",
        ]
    graph = (
        [
            "-filter_complex",
            "".join(f"[{i}:a]" for i in range(channels)) + f"amerge=inputs={channels}[a]",
            "-map",
            "[a]",
        ]
        if channels > 1
        else []
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ffmpeg(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            *graph,
            "-ar",
            str(rate),
            "-ac",
            str(channels),
            *codec_args,
            str(path),
        ],
        check=True,
    )
    return path


def make_format(
    directory: Path, fmt: Fmt, *, seconds: float = 1.0, channels: int = 2, stem: str = ""
) -> Path:
    return make_audio(
        directory / f"{stem or fmt.name}{fmt.suffix}",
        seconds=seconds,
        channels=channels,
        rate=fmt.rate,
        codec_args=fmt.codec_args,
    )


def make_wav(path: Path, *, seconds: float = 1.0, channels: int = 2, rate: int = 8000) -> Path:
    """A 16-bit PCM WAV with the same tones as :func:`make_audio` (left 440 Hz, right 660 Hz, ...)."""
    frames = round(seconds * rate)
    samples = array("h", bytes(2 * frames * channels))
    for ch in range(channels):
        step = 2 * math.pi * (440 + 220 * ch) / rate
        for i in range(frames):
            samples[i * channels + ch] = round(4096 * math.sin(step * i))  # ffmpeg's sine level, 1/8
    if sys.byteorder == "big":
        samples.byteswap()  # WAV samples are little-endian
    return _write_wav(path, samples.tobytes(), channels=channels, rate=rate)


def _write_wav(path: Path, pcm: bytes, *, channels: int, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def truncate(src: Path, dst: Path, *, keep: float = 0.5) -> Path:
    """A copy of ``src`` cut off after ``keep`` of its bytes, as a crashed writer leaves it."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def zero_length_wav(path: Path, *, rate: int = 8000, channels: int = 1) -> Path:
    """A well-formed WAV with a header and no samples."""
    return _write_wav(path, b"", channels=channels, rate=rate)


def make_all_formats(directory: Path, *, seconds: float = 1.0) -> dict[str, Path]:
    """One stereo file per accepted format, keyed by :attr:`Fmt.name`."""
    return {fmt.name: make_format(directory, fmt, seconds=seconds) for fmt in FORMATS}
