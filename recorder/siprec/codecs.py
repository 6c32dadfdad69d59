"""The audio codecs live capture records: G.711 (μ-law, A-law) always, G.722 and Opus when configured
(``siprec_codecs``) and the FFmpeg in the dependency tree (PyAV) decodes them.

Every stream's timeline counts samples at 8 kHz (:data:`~recorder.siprec.rtp.RATE`) whatever the
codec, so placement, pauses and alignment work the same for all of them:

- G.711: RTP clock 8000, one payload byte per sample;
- G.722: 16 kHz audio but an RTP clock of 8000 (RFC 3551 §4.5.2 keeps the clock of the first
  standard's mistake), and at 64 kbit/s one payload byte per 8 kHz tick (two 16 kHz samples);
- Opus: RTP clock 48000 (RFC 7587, whatever the audio bandwidth), six ticks per 8 kHz sample; a
  packet's length comes from its TOC byte (RFC 6716 §3.1).

A stream's payload types map to codecs from its SDP (``a=rtpmap``), with the static types 0, 8 and 9
known without one. Wideband packets are decoded in order per stream (:class:`StreamDecoder`: the
decoders keep state between packets) to 16 kHz, the rate the stored file then has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from storage.errors import InvalidInput

WIDE_RATE = 16_000  # the stored file's rate when any packet was G.722 or Opus


class UnknownCodec(InvalidInput):
    """codec not known to the recorder"""


class CodecUnavailable(InvalidInput):
    """codec configured but its decoder is missing from this FFmpeg"""


@dataclass(frozen=True)
class Codec:
    name: str  # as in siprec_codecs and meta.live.stats codecs
    encoding: str  # the SDP encoding name (a=rtpmap), compared case-insensitively
    clock: int  # RTP clock rate
    rate: int  # sample rate of the decoded audio
    decoder: str | None = None  # FFmpeg decoder (PyAV) for codecs not decoded by table
    static_pt: int | None = None

    @property
    def wideband(self) -> bool:
        return self.rate > 8000

    def rtpmap(self) -> str:
        return f"{self.encoding}/{self.clock}" + ("/2" if self.name == "opus" else "")


PCMU = Codec("PCMU", "PCMU", 8000, 8000, static_pt=0)
PCMA = Codec("PCMA", "PCMA", 8000, 8000, static_pt=8)
G722 = Codec("G722", "G722", 8000, 16000, decoder="g722", static_pt=9)
OPUS = Codec("opus", "opus", 48000, 48000, decoder="opus")
KNOWN = {c.name.lower(): c for c in (PCMU, PCMA, G722, OPUS)}
STATIC = {c.static_pt: c for c in KNOWN.values() if c.static_pt is not None}
G711_MAP: dict[int, Codec] = {0: PCMU, 8: PCMA}


def configured(names: Iterable[str]) -> list[Codec]:
    """The codecs named in ``siprec_codecs``, each checked: known, and decodable by this FFmpeg."""
    out = []
    for name in names:
        codec = KNOWN.get(name.strip().lower())
        if codec is None:
            raise UnknownCodec(f"{name!r} (known: {', '.join(c.name for c in KNOWN.values())})")
        if codec.decoder is not None and not decodable(codec):
            raise CodecUnavailable(f"{codec.name}: no {codec.decoder!r} decoder in PyAV's FFmpeg")
        out.append(codec)
    return out


def decodable(codec: Codec) -> bool:
    import av

    try:
        av.codec.Codec(codec.decoder or "", "r")
    except Exception:  # noqa: BLE001 - PyAV raises its own lookup errors by version
        return False
    return True


def from_rtpmap(encoding: str) -> Codec | None:
    """The codec of an ``a=rtpmap`` value like ``opus/48000/2`` (None if not one we record)."""
    parts = encoding.strip().split("/")
    codec = KNOWN.get(parts[0].lower())
    if codec is None or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) != codec.clock:
        return None
    return codec


def payload_map(payload_types: Iterable[int], rtpmap: Mapping[int, str], allowed: Iterable[Codec]) -> dict[int, Codec]:
    """Payload type → codec for one m-line: its offered types that are allowed, plus the allowed static
    types (decoded by each packet's own type: clients send what they have, not what was answered)."""
    ok = {c.name for c in allowed}
    out: dict[int, Codec] = {}
    for pt in payload_types:
        codec = from_rtpmap(rtpmap[pt]) if pt in rtpmap else STATIC.get(pt)
        if codec is not None and codec.name in ok:
            out[pt] = codec
    for pt, codec in STATIC.items():
        if codec.name in ok:
            out.setdefault(pt, codec)
    return out


def to_names(pts: Mapping[int, Codec]) -> dict[str, str]:
    """The JSON form kept in the journal's stream entries."""
    return {str(pt): c.name for pt, c in pts.items()}


def from_names(names: Mapping[str, Any] | None) -> dict[int, Codec]:
    """Back from :func:`to_names`; an entry without a map (older journals, media streams) is G.711."""
    if not names:
        return dict(G711_MAP)
    return {int(pt): KNOWN[str(n).lower()] for pt, n in names.items() if str(n).lower() in KNOWN}


_OPUS_FRAME_US = (10_000, 20_000, 40_000, 60_000) * 3 + (10_000, 20_000) * 2 + (2_500, 5_000, 10_000, 20_000) * 4


def opus_samples(payload: bytes) -> int:
    """48 kHz samples in an Opus packet, from its TOC byte and frame count (RFC 6716 §3.1); 0 if malformed."""
    if not payload:
        return 0
    toc = payload[0]
    frame = _OPUS_FRAME_US[toc >> 3] * 48 // 1000
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(payload) < 2:
            return 0
        frames = payload[1] & 0x3F
    return frame * frames


def ticks(codec: Codec, payload: bytes) -> int:
    """How long a payload lasts, in 8 kHz timeline samples."""
    if codec is OPUS:
        return opus_samples(payload) // 6
    return len(payload)  # G.711 one byte a sample; G.722 at 64 kbit/s one byte a clock tick


def _lowpass(taps: int = 63, cutoff: float = 7_000 / 48_000) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff * n) * np.hamming(taps)
    return (h / h.sum()).astype(np.float64)


_H = _lowpass()


class StreamDecoder:
    """One stream's wideband decoders (G.722, Opus), fed its packets in timeline order: 16 kHz int16 out.

    Opus decodes at 48 kHz; it is brought to 16 kHz by a low-pass FIR (63 taps, 0.65 ms delay) and
    keeping every third sample, the filter's history carried across packets that follow each other (a
    gap restarts it). A packet of N ticks gives exactly 2 N samples, placed where its timestamp says.
    """

    def __init__(self) -> None:
        self._ctx: dict[str, Any] = {}
        self._hist = np.zeros(len(_H) - 1)
        self._next = -1  # timeline position the Opus history leads up to

    def _context(self, codec: Codec) -> Any:
        import av

        ctx: Any = self._ctx.get(codec.name)
        if ctx is None:
            ctx = av.CodecContext.create(codec.decoder or "", "r")
            ctx.sample_rate = codec.rate
            ctx.layout = "mono"
            self._ctx[codec.name] = ctx
        return ctx

    def decode(self, codec: Codec, payload: bytes, position: int) -> np.ndarray:
        """The packet's audio at 16 kHz (int16); an undecodable packet gives silence of its length."""
        import av
        import av.error

        want = 2 * ticks(codec, payload)
        pcm: list[np.ndarray] = []
        try:
            for frame in self._context(codec).decode(av.Packet(payload)):
                x = frame.to_ndarray().astype(np.float64).reshape(-1)
                pcm.append(x * 32767.0 if frame.format.name.startswith("flt") else x)
        except (av.error.FFmpegError, ValueError):
            pcm = []
        x = np.concatenate(pcm) if pcm else np.zeros(want * codec.rate // WIDE_RATE)
        if codec.rate == 48_000:
            x = self._decimate(x, position)
        out = np.zeros(want)
        out[: min(want, len(x))] = x[:want]
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    def _decimate(self, x: np.ndarray, position: int) -> np.ndarray:
        if position != self._next:
            self._hist = np.zeros(len(_H) - 1)
        joined = np.concatenate([self._hist, x])
        y = np.convolve(joined, _H, mode="valid")  # causal: y[j] ends at x[j]
        self._hist = joined[len(joined) - (len(_H) - 1):]
        self._next = position + len(x) // 6
        return y[::3]
