"""SDP offers and answers (RFC 4566/3264) and the multipart bodies SIPREC sends them in.

A SIPREC offer has one ``m=audio`` per recorded stream, ``a=sendonly`` and ``a=label:N``. The answer
takes every stream (m-line i on local port P + 2i), answers ``a=recvonly`` (``a=inactive`` stays
inactive) with the offered payload types of the configured codecs (``siprec_codecs``: G.711, and
G.722/Opus when enabled) and telephone-event, and is plain ``application/sdp``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from recorder.siprec.codecs import PCMA, PCMU, Codec, from_rtpmap
from storage.errors import InvalidInput

_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";]+)"?', re.I)
_STATIC = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000"}
G711 = (PCMU, PCMA)


class BadSdp(InvalidInput):
    """malformed SDP"""


class NoCodec(InvalidInput):
    """no supported codec offered"""


@dataclass
class MediaOffer:
    port: int
    payload_types: list[int]
    rtpmap: dict[int, str] = field(default_factory=dict)
    label: str | None = None
    direction: str = "sendonly"
    kind: str = "audio"

    def accepted(self, codecs: tuple[Codec, ...] | list[Codec] = G711) -> list[int]:
        """The offered payload types of ``codecs``, in the offer's order of preference."""
        names = {c.name for c in codecs}
        out = []
        for pt in self.payload_types:
            codec = from_rtpmap(self.rtpmap.get(pt, _STATIC.get(pt, "")))
            if codec is not None and codec.name in names:
                out.append(pt)
        return out

    @property
    def telephone_event(self) -> int | None:
        for pt, name in self.rtpmap.items():
            if name.lower().startswith("telephone-event/8000"):
                return pt
        return None


@dataclass
class Offer:
    address: str
    media: list[MediaOffer]


@dataclass
class Part:
    content_type: str
    headers: dict[str, str]
    body: bytes


def split_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a ``multipart/mixed`` body; a single-part body comes back as one part."""
    ctype = content_type.split(";")[0].strip().lower()
    if not ctype.startswith("multipart/"):
        return [Part(ctype, {}, body)]
    m = _BOUNDARY.search(content_type)
    if not m:
        raise BadSdp("multipart body without a boundary")
    delim = b"--" + m.group(1).strip().encode()
    parts: list[Part] = []
    chunks = body.split(delim)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(Part(headers.get("content-type", "text/plain").split(";")[0].strip().lower(), headers, content))
    if not parts:
        raise BadSdp("multipart body has no parts")
    return parts


def parse_offer(body: bytes) -> Offer:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdp("SDP is not UTF-8") from None
    address = ""
    session_dir: str | None = None
    media: list[MediaOffer] = []
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "c":
            parts = value.split()
            if len(parts) != 3:
                raise BadSdp(f"bad c= line {value[:40]!r}")
            if not media:
                address = parts[2]
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise BadSdp(f"bad m= line {value[:40]!r}")
            pts = [int(p) for p in parts[3:] if p.isdigit() and int(p) < 128]
            media.append(MediaOffer(int(parts[1].split("/")[0]), pts, kind=parts[0].lower(),
                                    direction=session_dir or "sendonly"))
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name in ("sendonly", "recvonly", "sendrecv", "inactive"):
                if media:
                    media[-1].direction = name
                else:
                    session_dir = name
            elif name == "label" and media:
                media[-1].label = rest.strip()[:64]
            elif name == "rtpmap" and media:
                pt, _, enc = rest.partition(" ")
                if pt.isdigit():
                    media[-1].rtpmap[int(pt)] = enc.strip()
    if not media:
        raise BadSdp("no m= line")
    return Offer(address, media)


def check_codecs(offer: Offer, codecs: tuple[Codec, ...] | list[Codec] = G711) -> None:
    for i, m in enumerate(offer.media):
        if m.kind == "audio" and m.port != 0 and not m.accepted(codecs):
            names = ", ".join(m.rtpmap.get(pt, str(pt)) for pt in m.payload_types) or "none"
            takes = ", ".join(c.name for c in codecs)
            raise NoCodec(f"m-line {i + 1} offers {names}; this recorder takes {takes}")


def answer(offer: Offer, address: str, ports: list[int], session_id: int | None = None,
           codecs: tuple[Codec, ...] | list[Codec] = G711) -> bytes:
    """The SDP answer: m-line i on ``ports[i]`` (0 for refused lines), receive-only."""
    sid = session_id or int(time.time())
    lines = ["v=0", f"o=callqc-srs {sid} {sid} IN IP4 {address}", "s=callqc SIPREC", f"c=IN IP4 {address}", "t=0 0"]
    for m, port in zip(offer.media, ports, strict=True):
        if m.kind != "audio" or port == 0:
            lines.append(f"m={m.kind} 0 RTP/AVP {m.payload_types[0] if m.payload_types else 0}")
            continue
        pts = m.accepted(codecs) + ([m.telephone_event] if m.telephone_event is not None else [])
        lines.append(f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}")
        for pt in pts:
            lines.append(f"a=rtpmap:{pt} {m.rtpmap.get(pt) or _STATIC.get(pt, '')}")
        if m.label:
            lines.append(f"a=label:{m.label}")
        lines.append("a=inactive" if m.direction in ("inactive", "recvonly") else "a=recvonly")
    return ("\r\n".join(lines) + "\r\n").encode()
