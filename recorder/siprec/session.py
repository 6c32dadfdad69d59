"""SIP dialogs of the recording server: what one recording session holds, and how its INVITE is read.

:func:`read_invite` turns an INVITE into an :class:`InviteOffer` (SDP, metadata, roles, call
metadata) or raises the error whose SIP status :data:`STATUS` gives. :class:`Dialog` is the state
of one session: its ports and sockets, stream receivers, journal, the response to repeat for a
retransmitted INVITE, and the 200 retransmission timer of UDP.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recorder.metadata import CallMeta, InvalidMetadata, parse_meta
from recorder.siprec import rsmeta, sdp
from recorder.siprec.codecs import Codec, payload_map, to_names
from recorder.siprec.journal import Journal
from recorder.siprec.live import StreamSpec
from recorder.siprec.rtp import RATE, Placed, StreamReceiver
from recorder.siprec.sipmsg import BadMessage, SipMessage, TooLarge
from storage.errors import InvalidInput

MAX_RECORDED = 2
FALLBACK = "fallback"
_HEADER_META = {"X-Callqc-Tenant": "tenant", "X-Callqc-Queue": "queue", "X-Callqc-Direction": "direction",
                "X-Callqc-Team": "team", "X-Callqc-Agent": "agent_id"}


class ExtensionRequired(InvalidInput):
    """not a SIPREC INVITE (Require: siprec missing)"""


class BadExtension(InvalidInput):
    """unsupported extension required"""


class UnsupportedBody(InvalidInput):
    """unsupported body"""


STATUS: tuple[tuple[type[Exception], int], ...] = (
    (TooLarge, 413), (BadMessage, 400), (ExtensionRequired, 421), (BadExtension, 420),
    (UnsupportedBody, 415), (sdp.NoCodec, 488), (sdp.BadSdp, 400), (rsmeta.BadMetadata, 400),
    (InvalidMetadata, 400), (InvalidInput, 400),
)


def status_of(exc: Exception) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


@dataclass
class InviteOffer:
    offer: sdp.Offer
    siprec: bool
    rs: rsmeta.RecordingMeta | None
    specs: list[StreamSpec]
    channel_map: dict[str, int]
    meta: CallMeta
    extra: dict[str, Any]


def read_invite(msg: SipMessage, *, allow_plain: bool, agent_pattern: str,
                codecs: list[Codec] | tuple[Codec, ...] = sdp.G711) -> InviteOffer:
    required = msg.tokens("Require")
    unknown = required - {"siprec"}
    if unknown:
        raise BadExtension(", ".join(sorted(unknown))[:80])
    siprec = "siprec" in required
    if not siprec and not allow_plain:
        raise ExtensionRequired()
    sdp_body, rs = _bodies(msg)
    offer = sdp.parse_offer(sdp_body)
    sdp.check_codecs(offer, codecs)
    audio = [i for i, m in enumerate(offer.media) if m.kind == "audio" and m.port != 0][:MAX_RECORDED if siprec else 1]
    if not audio:
        raise sdp.NoCodec("no audio stream offered")
    labels = [offer.media[i].label for i in audio]
    pts = [to_names(payload_map(offer.media[i].payload_types, offer.media[i].rtpmap, codecs)) for i in audio]
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {"sip_call_id": msg.call_id[:200], "subject": (msg.get("Subject") or "")[:200]}
    if siprec and len(audio) == 2:
        roles = rsmeta.roles(rs, labels, agent_pattern)
        role_of = {roles.agent: ("agent", 0), roles.customer: ("customer", 1)}
        specs = [StreamSpec(k, labels[k], *role_of[k], mline=audio[k], payload_types=pts[k]) for k in range(2)]
        channel_map = {"agent": 0, "customer": 1}
        if roles.agent_aor:
            raw["agent_id"] = rsmeta.user_part(roles.agent_aor)
        if roles.customer_aor:
            raw["caller"] = rsmeta.user_part(roles.customer_aor)
        if not roles.by_metadata:
            extra["speaker_map"] = FALLBACK  # m-line order, not metadata, decided the roles
    else:
        specs = [StreamSpec(0, labels[0], "unknown", 0, mline=audio[0], payload_types=pts[0])]
        channel_map = {"unknown": 0}
        extra["speaker_map"] = FALLBACK
        raw["caller"] = rsmeta.user_part(_uri(msg.get("From") or ""))
        raw["callee"] = rsmeta.user_part(_uri(msg.get("To") or ""))
    for header, key in _HEADER_META.items():
        value = msg.get(header)
        if value:
            raw[key] = value
    if rs is not None:
        extra["rs_metadata"] = rs.as_dict()
    meta = parse_meta({k: v for k, v in raw.items() if v})
    return InviteOffer(offer, siprec, rs, specs, channel_map, meta, extra)


def read_update(msg: SipMessage) -> tuple[sdp.Offer | None, rsmeta.RecordingMeta | None]:
    """The new offer and metadata of a re-INVITE or UPDATE (either may be absent)."""
    if not msg.body:
        return None, None
    sdp_body, rs = _bodies(msg, need_sdp=False)
    return (sdp.parse_offer(sdp_body) if sdp_body else None), rs


def _bodies(msg: SipMessage, *, need_sdp: bool = True) -> tuple[bytes, rsmeta.RecordingMeta | None]:
    ctype = msg.get("Content-Type") or ""
    if not msg.body:
        if need_sdp:
            raise UnsupportedBody("no SDP offer (offerless INVITE is not supported)")
        return b"", None
    sdp_body = b""
    rs = None
    for part in sdp.split_multipart(ctype, msg.body):
        if part.content_type == "application/sdp":
            sdp_body = part.body
        elif part.content_type == "application/rs-metadata+xml":
            rs = rsmeta.parse(part.body)
        elif part.headers.get("content-disposition", "").startswith("required") or not ctype.startswith("multipart"):
            raise UnsupportedBody(f"body part {part.content_type[:60]!r}")
    if need_sdp and not sdp_body:
        raise UnsupportedBody("no application/sdp part")
    return sdp_body, rs


def _uri(header: str) -> str:
    m = re.search(r"<([^>]*)>", header)
    return m.group(1) if m else header.split(";")[0].strip()


@dataclass
class Dialog:
    sip_call_id: str
    call_id: str
    to_tag: str
    invite_cseq: int
    reply: Any  # Callable[[bytes], None]: sends on the transport the INVITE came on
    udp: bool
    offer: InviteOffer
    ports: list[int] = field(default_factory=list)  # local port per m-line (0 = refused)
    sockets: dict[int, socket.socket] = field(default_factory=dict)  # journal stream index -> RTP socket
    rtcp: dict[int, socket.socket] = field(default_factory=dict)  # journal stream index -> RTCP socket (P+1)
    receivers: dict[int, StreamReceiver] = field(default_factory=dict)
    journal: Journal | None = None
    answered_at: datetime | None = None
    origin: float = field(default_factory=time.time)  # answer time, Unix seconds
    last_rtp: float = field(default_factory=time.monotonic)
    state: str = "answering"  # answering -> confirmed -> ending -> ended
    cancelled: bool = False
    final: bytes | None = None  # the final response to the INVITE, repeated on retransmission
    acked: bool = False
    retrans: asyncio.TimerHandle | None = None
    inactive: bool = False  # SIPREC a=inactive on every stream
    # Paused spans [start, end) in samples since answer (end None = still paused): from the pauses
    # table (polled) plus the one a=inactive opened here, which applies before its row is written.
    spans: list[tuple[int, int | None]] = field(default_factory=list)
    local_span: tuple[int, int | None] | None = None

    def keep(self, packets: list[Placed]) -> list[Placed]:
        """The packets outside every paused span (PCI audio never reaches the journal or the tap)."""
        spans = self.spans + ([self.local_span] if self.local_span else [])
        if not spans:
            return packets
        return [p for p in packets if not any(a <= p.position and (b is None or p.position < b) for a, b in spans)]

    def position_at(self, when: datetime) -> int:
        assert self.answered_at is not None
        return max(0, round((when - self.answered_at).total_seconds() * RATE))

    def stats(self) -> dict[str, Any]:
        """Per-stream figures keyed by SDP label (or stream number)."""
        return {
            spec.label or str(spec.index): self.receivers[spec.index].stats.as_dict()
            for spec in self.offer.specs if spec.index in self.receivers
        }
