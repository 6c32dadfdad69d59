"""A call's WAV file, built from its journal: each stream's packets placed by position, gaps silent.

Channel ``c`` of the file is the stream the index gives that channel. When every packet is PCMU the
file is μ-law (the payload bytes kept as they came), every packet PCMA → A-law, a mix → 16-bit PCM,
all at 8 kHz; when any packet is G.722 or Opus → 16-bit PCM at 16 kHz (recorder/siprec/codecs.py).
Paused spans (sample ranges) are overwritten with silence. The file starts at the first packet of
any stream (``Built.first_audio`` says where that was, counted from the answer).
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorder.siprec.codecs import WIDE_RATE, Codec, StreamDecoder, from_names, ticks
from recorder.siprec.journal import records, stream_file
from recorder.siprec.rtp import PCMA, PCMU, RATE, SILENCE, TABLES

_FORMAT = {PCMU: (7, "pcm_mulaw"), PCMA: (6, "pcm_alaw")}
Placed = dict[int, tuple[Codec, bytes]]  # timeline position (8 kHz samples) -> packet


@dataclass(frozen=True)
class Built:
    path: Path
    codec: str
    channels: int
    samples: int  # per channel, at ``rate``
    first_audio: int | None  # where the file starts: the first packet's position (8 kHz samples since answer)
    rate: int = RATE

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate


def build_wav(folder: Path, index: dict[str, Any], out: Path, pauses: list[tuple[int, int]]) -> Built:
    """Write ``out`` from the journal in ``folder``; ``pauses`` are [start, end) ranges of 8 kHz samples."""
    channels = int(index["channels"])
    by_channel: list[Placed] = [{} for _ in range(channels)]
    for s in index["streams"]:
        ch = s.get("channel")
        if ch is None or ch >= channels:
            continue
        placed = by_channel[ch]
        known = from_names(s.get("payload_types"))
        shift = int(s.get("shift", 0))  # RTCP sender-report alignment, decided at the end of the call
        for _, rec in records(stream_file(folder, s["index"])):
            codec = known.get(rec.pt)
            if codec is not None and rec.position + shift >= 0:
                placed[rec.position + shift] = (codec, rec.payload)
    used = {codec.name: codec for placed in by_channel for codec, _ in placed.values()}
    starts = [pos for placed in by_channel for pos in placed]
    first = min(starts) if starts else None
    if first:
        # The file starts with the first audio of any stream: the set-up time between the answer and
        # the first packet is not part of the call. Positions and pauses move with it.
        by_channel = [{pos - first: v for pos, v in placed.items()} for placed in by_channel]
        pauses = [(a - first, b - first) for a, b in pauses]
    # An empty call still gets 20 ms of silence: a file with no samples is not a recording.
    length = max((pos + ticks(c, p) for placed in by_channel for pos, (c, p) in placed.items()), default=RATE // 50)
    if any(c.wideband for c in used.values()):
        data = _wideband(by_channel, length, pauses)
        _write(out, 1, channels, 2, data, WIDE_RATE)
        return Built(out, "pcm_s16le", channels, 2 * length, first, WIDE_RATE)
    if len(used) <= 1:
        pt = next(iter(used.values())).static_pt if used else PCMU
        assert pt is not None
        tag, name = _FORMAT[pt]
        bufs: list[Any] = []
        for placed in by_channel:
            buf = bytearray([SILENCE[pt]]) * length
            for pos, (_, payload) in placed.items():
                buf[pos:pos + len(payload)] = payload
            for a, b in pauses:
                a, b = max(0, a), min(length, b)
                if b > a:
                    buf[a:b] = bytes([SILENCE[pt]]) * (b - a)
            bufs.append(buf)
        interleaved = bytearray(length * channels)
        for c, buf in enumerate(bufs):
            interleaved[c::channels] = buf
        _write(out, tag, channels, 1, bytes(interleaved), RATE)
        return Built(out, name, channels, length, first)
    linear = array("h", bytes(2 * length * channels))
    for c, placed in enumerate(by_channel):
        lin = array("h", bytes(2 * length))
        for pos, (codec_, payload) in placed.items():
            table = TABLES[codec_.static_pt or 0]
            lin[pos:pos + len(payload)] = array("h", (table[b] for b in payload))
        for a, b in pauses:
            a, b = max(0, a), min(length, b)
            if b > a:
                lin[a:b] = array("h", bytes(2 * (b - a)))
        linear[c::channels] = lin
    _write(out, 1, channels, 2, linear.tobytes(), RATE)
    return Built(out, "pcm_s16le", channels, length, first)


def _wideband(by_channel: list[Placed], length: int, pauses: list[tuple[int, int]]) -> bytes:
    """16 kHz 16-bit PCM: G.722/Opus decoded in timeline order per channel, G.711 doubled in rate."""
    n = 2 * length
    planes = np.zeros((len(by_channel), n), dtype=np.int16)
    for c, placed in enumerate(by_channel):
        decoder = StreamDecoder()
        for pos, (codec, payload) in sorted(placed.items()):
            if codec.wideband:
                pcm = decoder.decode(codec, payload, pos)
            else:
                narrow = np.frombuffer(array("h", (TABLES[codec.static_pt or 0][b] for b in payload)).tobytes(),
                                       dtype=np.int16)
                pcm = np.interp(np.arange(2 * len(narrow)) / 2, np.arange(len(narrow)), narrow).astype(np.int16)
            at = 2 * pos
            planes[c, at:at + len(pcm)] = pcm[: max(0, n - at)]
        for a, b in pauses:
            a, b = max(0, 2 * a), min(n, 2 * b)
            if b > a:
                planes[c, a:b] = 0
    return planes.T.tobytes()


def _write(out: Path, tag: int, channels: int, width: int, data: bytes, rate: int) -> None:
    if tag == 1:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, 8 * width)
        chunks = [(b"fmt ", fmt)]
    else:  # non-PCM formats carry cbSize and a fact chunk (sample frames)
        fmt = struct.pack("<HHIIHHH", tag, channels, rate, rate * channels, channels, 8, 0)
        chunks = [(b"fmt ", fmt), (b"fact", struct.pack("<I", len(data) // (channels * width)))]
    chunks.append((b"data", data))
    body = b"".join(cid + struct.pack("<I", len(c)) + c + (b"\0" if len(c) & 1 else b"") for cid, c in chunks)
    with out.open("wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
        fh.flush()


def wav_data(path: Path) -> tuple[int, int, bytes]:
    """(format tag, channels, data bytes) of a WAV file written by :func:`build_wav` (tests, tools)."""
    raw = path.read_bytes()
    pos, tag, channels, data = 12, 0, 0, b""
    while pos + 8 <= len(raw):
        cid, size = struct.unpack_from("<4sI", raw, pos)
        if cid == b"fmt ":
            tag, channels = struct.unpack_from("<HH", raw, pos + 8)
        elif cid == b"data":
            data = raw[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    return tag, channels, data
