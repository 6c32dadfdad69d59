"""What the browser's player is given: the recording as stored when a browser can play it, else a
16-bit PCM WAV decoded from it.

Browsers play WAV with PCM, μ-law or A-law, MP3, FLAC, Ogg (Opus, Vorbis) and MP4/AAC; they do not
play GSM 06.10 (``.gsm``, WAV49 ``.WAV``), G.722 or Asterisk's headerless formats (``.ulaw``,
``.alaw``, ``.sln*``), which PBXs write a lot. Those are decoded in-process with PyAV (the same
decoder the transcriber uses; headerless files by the call's ``meta.audio_format``) and written as WAV
with Python's own writer, so no ffmpeg program is needed. The stored object is never changed; the
transcode lives only in the page (the player embeds its bytes).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from typing import Any

from transcribe.redaction.audio import decode

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


def playable(data: bytes, *, audio_format: Mapping[str, Any] | None = None, name: str = "audio") -> tuple[bytes, str]:
    """``data`` and its MIME type when a browser plays it as it is; else a PCM WAV made from it.
    Audio that cannot be decoded raises :class:`transcribe.redaction.audio.UndecodableAudio`."""
    mime = browser_mime(data)
    if mime is not None:
        return data, mime
    buf = io.BytesIO()
    decode(data, name=name, audio_format=audio_format).export(buf, format="wav")
    return buf.getvalue(), "audio/wav"
