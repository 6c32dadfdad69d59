"""What the browser's player is given: the recording as stored when a browser can play it, else a
16-bit PCM WAV decoded from it.

Browsers play WAV with PCM, μ-law or A-law, MP3, FLAC, Ogg (Opus, Vorbis) and MP4/AAC; they do not
play GSM 06.10 (``.gsm``, WAV49 ``.WAV``), G.722 or Asterisk's headerless formats (``.ulaw``,
``.alaw``, ``.sln*``), which PBXs write a lot. Those are decoded in-process with PyAV (the same
decoder the transcriber uses; headerless files by the call's ``meta.audio_format``) and written as WAV
with Python's own writer, so no ffmpeg program is needed. The stored object is never changed: the
media endpoint (recorder/media.py) transcodes on the way out, and serves Range on the transcode.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Mapping
from typing import Any

import av
import av.error

from storage.errors import InvalidInput

# WAVE_FORMAT tags browsers decode: PCM, IEEE float, A-law, μ-law
_WAV_PLAYABLE = {0x0001, 0x0003, 0x0006, 0x0007}


def browser_mime(data: bytes) -> str | None:
    """The MIME type a browser plays ``data`` as, or None when it cannot play it."""
    head = data[:64]
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav" if _wav_tag(data) in _WAV_PLAYABLE else None
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    return None


def _wav_tag(data: bytes) -> int | None:
    pos = 12
    while pos + 8 <= min(len(data), 4096):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt ":
            return int(struct.unpack_from("<H", data, pos + 8)[0]) if pos + 10 <= len(data) else None
        pos += 8 + size + (size & 1)
    return None


class Unplayable(InvalidInput):
    """the recording cannot be decoded for playback"""


def to_wav(data: bytes, *, audio_format: Mapping[str, Any] | None = None, name: str = "audio") -> bytes:
    """``data`` decoded (headerless PBX formats by their ``audio_format``) as 16-bit PCM WAV."""
    fmt = str(audio_format["format"]) if audio_format and audio_format.get("format") else None
    options = {"sample_rate": str(int(audio_format["sample_rate"]))} if fmt and audio_format else {}
    try:
        with av.open(io.BytesIO(data), mode="r", format=fmt, options=options, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise Unplayable(f"{name}: no audio stream")
            ctx = container.streams.audio[0].codec_context
            channels, rate = ctx.channels or 1, ctx.sample_rate or 8000
            resampler = av.AudioResampler(format="s16", layout=ctx.layout.name if ctx.layout else None, rate=rate)
            pcm = [out.to_ndarray().tobytes() for frame in container.decode(container.streams.audio[0])
                   for out in resampler.resample(frame)]
            pcm += [out.to_ndarray().tobytes() for out in resampler.resample(None)]
    except (av.error.FFmpegError, ValueError, KeyError, OSError) as exc:
        raise Unplayable(f"{name}: {type(exc).__name__}: {exc}") from exc
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(pcm))
    return buf.getvalue()
