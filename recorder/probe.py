"""Probe a recording with PyAV: container, codec, sample rate, channels, duration; refuse what we can't keep.

The whole file is decoded once. That is the only way to be sure of the duration when a container
does not state it (MP3 without a Xing header, WAV written to a pipe) and the only reliable way to
notice a file a crashed writer left cut off. Refusals are :class:`storage.errors.InvalidInput`
subclasses with a one-line message naming the file.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import av

from storage.errors import InvalidInput

log = logging.getLogger(__name__)

# A decoded duration this much shorter than the one the container states means bytes are missing.
_SHORT_TOLERANCE_S = 0.25
_SHORT_TOLERANCE_FRACTION = 0.02
MAX_CHANNELS = 2

# container (PyAV format name) -> accepted codecs -> object-key extension
_ACCEPTED: dict[str, dict[str, str]] = {
    "wav": {
        c: "wav"
        for c in ("pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_u8", "pcm_f32le", "pcm_mulaw", "pcm_alaw",
                  "gsm_ms")  # gsm_ms: Asterisk's WAV49 (format "wav49", files named .WAV)
    },
    # Headerless files, known only by their extension (see RAW_FORMATS); the key keeps that extension.
    "gsm": {"gsm": "gsm"},
    "mulaw": {"pcm_mulaw": "ulaw"},
    "alaw": {"pcm_alaw": "alaw"},
    "s16le": {"pcm_s16le": "sln"},
    "g722": {"g722": "g722"},
    "flac": {"flac": "flac"},
    "mp3": {"mp3": "mp3", "mp3float": "mp3"},
    "ogg": {"opus": "opus", "vorbis": "ogg"},
    "mov,mp4,m4a,3gp,3g2,mj2": {"aac": "m4a", "alac": "m4a"},
}

# First bytes of the containers we accept, to tell "damaged audio" from "not audio" when FFmpeg can't open it.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"fLaC", "FLAC"),
    (0, b"ID3", "MP3"),
    (0, b"OggS", "Ogg"),
    (4, b"ftyp", "M4A"),
)


@dataclass(frozen=True)
class RawFormat:
    """How FFmpeg must read a headerless file: demuxer name and sample rate (Asterisk's conventions)."""

    format: str
    sample_rate: int

    def hint(self) -> dict[str, str | int]:
        """The form kept in the call's ``meta.audio_format`` so the transcriber opens the file the same way."""
        return {"format": self.format, "sample_rate": self.sample_rate}


# Asterisk names its recording formats by file extension; these files carry no header at all, so the
# extension is the only thing that says what they hold. sln<N> is signed 16-bit at N kHz.
RAW_FORMATS: dict[str, RawFormat] = {
    "gsm": RawFormat("gsm", 8000),
    "ulaw": RawFormat("mulaw", 8000),
    "ul": RawFormat("mulaw", 8000),
    "alaw": RawFormat("alaw", 8000),
    "al": RawFormat("alaw", 8000),
    "g722": RawFormat("g722", 16000),
    "sln": RawFormat("s16le", 8000),
    "raw": RawFormat("s16le", 8000),
    **{f"sln{k}": RawFormat("s16le", k * 1000) for k in (12, 16, 24, 32, 44, 48, 96, 192)},
}


def raw_format_for(name: str) -> tuple[str, RawFormat] | None:
    """The headerless format a file name's extension stands for, with that extension (lower case)."""
    ext = Path(name).suffix.lower().lstrip(".")
    fmt = RAW_FORMATS.get(ext)
    return (ext, fmt) if fmt else None


class EmptyFile(InvalidInput):
    """empty file"""


class NotAudio(InvalidInput):
    """not an audio file"""


class UnsupportedAudio(InvalidInput):
    """unsupported audio format"""


class TruncatedAudio(InvalidInput):
    """truncated or damaged audio"""


class ZeroDuration(InvalidInput):
    """recording has no audio (zero duration)"""


class TooLong(InvalidInput):
    """recording too long"""


class TooManyChannels(InvalidInput):
    """too many channels"""


@dataclass(frozen=True)
class AudioInfo:
    container: str  # PyAV format name, e.g. "wav", "ogg"
    codec: str  # e.g. "pcm_mulaw", "opus"
    sample_rate: int
    channels: int
    duration_s: float  # from the decoded samples, not from the header
    ext: str  # extension of the object key: wav, flac, mp3, opus, ogg, m4a, or a raw one (ulaw, sln16, gsm…)
    size_bytes: int
    raw: RawFormat | None = None  # a headerless file: how to open it again (kept in meta.audio_format)
    salvaged: str | None = None  # why the header could not be trusted, when the audio was taken as present


def probe(path: Path, *, max_duration_s: float, name: str | None = None) -> AudioInfo:
    """Describe the recording at ``path`` or raise why it can't be accepted. ``name`` is used in messages."""
    path = Path(path)
    label = name or path.name
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile(f"{label}: 0 bytes")
    head = _read_head(path)
    raw = raw_format_for(label)
    salvaged = None
    if head.startswith(b"RIFF"):
        salvaged = _check_wav_header(path, size, label)
        raw = None  # a RIFF file named .sln is still a WAV: the header wins over the name
    try:
        if raw is not None:
            container = av.open(str(path), mode="r", format=raw[1].format,
                                options={"sample_rate": str(raw[1].sample_rate)})
        else:
            container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        kind = _magic_kind(head)
        if kind:
            raise TruncatedAudio(
                f"{label}: {kind} file that FFmpeg cannot open ({_av_reason(exc)})"
            ) from None
        raise NotAudio(f"{label}: not a recognised audio container") from None
    with container:
        info = _probe_open(container, label, size, max_duration_s, trust_header=salvaged is None)
    if raw is not None:
        info = replace(info, ext=raw[0], raw=raw[1])
    if salvaged is not None:
        info = replace(info, salvaged=salvaged)
        log.warning("probe: %s salvaged (%s): %.3f s of audio present", label, salvaged, info.duration_s)
    return info


def _probe_open(
    container: av.container.InputContainer, label: str, size: int, max_duration_s: float, *,
    trust_header: bool = True,
) -> AudioInfo:
    fmt = container.format.name
    if not container.streams.audio:
        raise NotAudio(f"{label}: no audio stream in {fmt!r}")
    videos = [v for v in container.streams.video if not v.disposition & av.stream.Disposition.attached_pic]
    if videos:
        raise UnsupportedAudio(f"{label}: has a video stream; only audio recordings are accepted")
    stream = container.streams.audio[0]
    codec = stream.codec_context.name
    codecs = _ACCEPTED.get(fmt)
    if codecs is None:
        raise UnsupportedAudio(f"{label}: container {fmt!r}; accepted: WAV, FLAC, MP3, Ogg/Opus, M4A, "
                               "GSM, raw μ-law/A-law/signed-linear/G.722 by extension")
    if codec not in codecs:
        raise UnsupportedAudio(f"{label}: codec {codec!r} in {fmt!r} is not accepted")
    channels = stream.codec_context.channels
    if channels > MAX_CHANNELS:
        raise TooManyChannels(f"{label}: {channels} channels, at most {MAX_CHANNELS} (agent and customer)")
    rate = stream.codec_context.sample_rate
    if not rate or channels < 1:
        raise NotAudio(f"{label}: audio stream without a sample rate or channels")
    stated = _stated_duration(container, stream) if trust_header else None
    if stated is not None and stated > max_duration_s:
        raise TooLong(f"{label}: {stated:.0f} s, at most {max_duration_s:.0f} s")
    duration = _decode_duration(container, stream, label, max_duration_s)
    if duration <= 0:
        raise ZeroDuration(f"{label}: 0 samples decoded")
    if stated is not None and duration < stated - max(_SHORT_TOLERANCE_S, _SHORT_TOLERANCE_FRACTION * stated):
        raise TruncatedAudio(f"{label}: header says {stated:.2f} s, only {duration:.2f} s of audio present")
    info = AudioInfo(fmt, _codec_name(codec), rate, channels, round(duration, 3), codecs[codec], size)
    log.info("probe: %s %s", label, info)
    return info


def _decode_duration(
    container: av.container.InputContainer, stream: av.AudioStream, label: str, max_duration_s: float
) -> float:
    samples = 0
    limit = max_duration_s * stream.codec_context.sample_rate
    try:
        for frame in decode_tolerant(container, stream):
            samples += frame.samples
            if samples > limit:
                raise TooLong(f"{label}: longer than {max_duration_s:.0f} s")
    except av.error.FFmpegError as exc:
        raise TruncatedAudio(
            f"{label}: decoding failed after {samples / stream.codec_context.sample_rate:.2f} s "
            f"({_av_reason(exc)})"
        ) from None
    return samples / stream.codec_context.sample_rate


def decode_tolerant(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    """Decoded frames; a *last* packet too short to decode (the part-block a writer left when it
    stopped mid-write, e.g. GSM's 65-byte WAV49 blocks) is dropped, any other error raised.
    The transcriber does the same (transcribe.audio), so both count the same samples."""
    packets = container.demux(stream)
    pending = next(packets, None)
    while pending is not None:
        following = next(packets, None)
        try:
            yield from stream.decode(pending)
        except av.error.FFmpegError:
            if following is not None and following.size:
                raise
            log.info("probe: dropped a last part-packet of %s bytes", pending.size)
        pending = following


def _stated_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The duration the container claims, if it claims one."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _check_wav_header(path: Path, size: int, label: str) -> str | None:
    """Find the WAV's data chunk; say why its size can't be trusted, or None when it can.

    A PBX that crashes (or is killed) mid-call leaves a header still saying 0 or 0xFFFFFFFF bytes, or
    a size from an earlier flush. The bytes after the header are the call's audio all the same: FFmpeg
    reads every byte present, so such a file is *salvaged* (taken as it is, its length from decoding,
    the call marked) rather than refused. Only a file that ends before its data chunk is refused:
    there is no audio to take.
    """
    with path.open("rb") as fh:
        riff = fh.read(12)
        if len(riff) < 12 or riff[8:12] != b"WAVE":
            return None  # not a RIFF/WAVE file after all: FFmpeg decides
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                present = size - pos - 8
                if present <= 0:
                    return None  # a header and no samples: ZeroDuration says so
                if chunk_size in (0, 0xFFFFFFFF):
                    return f"WAV header never finished (data size {chunk_size:#x}), {present} bytes present"
                if chunk_size > present:
                    return f"WAV header says {chunk_size} bytes of audio, file has {present}"
                return None
            pos += 8 + chunk_size + (chunk_size & 1)
    raise TruncatedAudio(f"{label}: WAV file ends before its data chunk")


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)


def _magic_kind(head: bytes) -> str | None:
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MP3"
    return None


def _codec_name(codec: str) -> str:
    return "mp3" if codec == "mp3float" else codec


def _av_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
