"""RTP packets, G.711 decoding, per-stream loss statistics (RFC 3550 A.3) and a small jitter buffer
(other codecs: recorder/siprec/codecs.py).

Audio is placed by RTP timestamp, never by arrival order: a lost packet leaves silence of its own
length, so durations stay right and kept samples stay bit-exact. Streams are told apart by the local
port they arrive on (load generators replay the same SSRCs in every call); a new SSRC on a port
restarts the sequence and timestamp bases where the previous one stopped.
"""

from __future__ import annotations

import heapq
import struct
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

from recorder.siprec.codecs import G711_MAP, Codec, ticks

RATE = 8000
PCMU = 0
PCMA = 8
G711 = {PCMU: "PCMU", PCMA: "PCMA"}
SILENCE = {PCMU: 0xFF, PCMA: 0xD5}  # the codec's byte for a zero sample
_HEADER = struct.Struct("!BBHII")
_SEQ_MOD = 1 << 16
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


def _ulaw(b: int) -> int:
    b = ~b & 0xFF
    t = (((b & 0x0F) << 3) + 0x84) << ((b & 0x70) >> 4)
    return 0x84 - t if b & 0x80 else t - 0x84


def _alaw(b: int) -> int:
    b ^= 0x55
    t = (b & 0x0F) << 4
    seg = (b & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if b & 0x80 else -t


ULAW_TO_LINEAR = array("h", (_ulaw(b) for b in range(256)))
ALAW_TO_LINEAR = array("h", (_alaw(b) for b in range(256)))
TABLES = {PCMU: ULAW_TO_LINEAR, PCMA: ALAW_TO_LINEAR}


def decode(pt: int, payload: bytes) -> array:
    """16-bit linear samples of a G.711 payload."""
    table = TABLES[pt]
    return array("h", (table[b] for b in payload))


@dataclass(frozen=True)
class RtpPacket:
    pt: int
    seq: int
    ts: int
    ssrc: int
    payload: bytes


def parse(data: bytes | memoryview) -> RtpPacket | None:
    """The packet, or None when ``data`` is not RTP version 2 (RTCP on the RTP port, noise)."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    pt = b1 & 0x7F
    if 72 <= pt <= 76:  # RTCP SR/RR/SDES/BYE/APP multiplexed on the port
        return None
    start = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data)
    if b0 & 0x20:  # padding
        end -= data[-1]
    if start > end:
        return None
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[start:end]))


def dtmf_event(payload: bytes) -> tuple[str, bool] | None:
    """The digit of an RFC 4733 telephone-event payload and whether this packet ends it."""
    if len(payload) < 4:
        return None
    event = payload[0]
    digits = "0123456789*#ABCD"
    digit = digits[event] if event < len(digits) else f"event{event}"
    return digit, bool(payload[1] & 0x80)


@dataclass
class SeqStats:
    """RFC 3550 A.3 sequence bookkeeping for one SSRC, plus what the cumulative counter hides."""

    base_seq: int = 0
    max_seq: int = 0
    cycles: int = 0
    received: int = 0  # unique packets
    duplicates: int = 0
    reordered: int = 0
    _seen: set[int] = field(default_factory=set)
    _started: bool = False

    def update(self, seq: int) -> int | None:
        """Record ``seq``; its extended number, or None for a duplicate or a wild jump (dropped)."""
        if not self._started:
            self._started = True
            self.base_seq = self.max_seq = seq
            self.received = 1
            self._seen.add(seq)
            return seq
        delta = (seq - self.max_seq) % _SEQ_MOD
        if delta == 0:
            self.duplicates += 1
            return None
        if delta < _MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD
            self.max_seq = seq
            ext = self.cycles + seq
        elif delta <= _SEQ_MOD - _MAX_MISORDER:
            return None  # a jump too large to be this stream: ignored (a restart shows as a new SSRC)
        else:
            back = _SEQ_MOD - delta
            ext = self.cycles + self.max_seq - back
            if ext in self._seen:
                self.duplicates += 1
                return None
            self.reordered += 1
        if ext in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(ext)
        if len(self._seen) > 4096:  # only the recent past can still repeat
            floor = self.cycles + self.max_seq - 2048
            self._seen = {s for s in self._seen if s >= floor}
        self.received += 1
        return ext

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1 if self._started else 0

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)


@dataclass
class StreamStats:
    """What is stored with the call for one stream (sums over its SSRCs)."""

    packets: int = 0
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    ssrcs: list[str] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    ignored: int = 0  # packets of payload types we don't record (other codecs, not RTP)
    rtcp: int = 0  # RTCP packets received (sender reports align the streams)

    def as_dict(self) -> dict[str, object]:
        return {
            "packets": self.packets, "expected": self.expected, "lost": self.lost,
            "duplicates": self.duplicates, "reordered": self.reordered, "ssrcs": self.ssrcs,
            "codecs": self.codecs, "dtmf": "".join(self.dtmf), "ignored": self.ignored, "rtcp": self.rtcp,
        }


@dataclass(order=True)
class Placed:
    """A packet's audio at its place on the call's timeline (samples since the call was answered)."""

    position: int
    pt: int = field(compare=False)
    payload: bytes = field(compare=False)
    arrival: float = field(compare=False)


class StreamReceiver:
    """One recorded stream: SSRC changes, statistics, timestamp placement and a jitter buffer.

    ``origin`` is the call's answer time (Unix seconds, like arrival times). The first packet of an SSRC is placed
    where it arrived (alignment by first-packet arrival); later packets by their timestamp distance
    from it. Placed packets leave through :meth:`ready` in timeline order once ``depth`` newer ones
    have come, or :meth:`drain` at the end.
    """

    def __init__(self, origin: float, *, depth: int = 4, codecs: Mapping[int, Codec] | None = None) -> None:
        self.origin = origin
        self.depth = depth
        self.codecs = dict(codecs or G711_MAP)  # payload type -> codec recorded (others are counted only)
        self.stats = StreamStats()
        self._seq: SeqStats | None = None
        self._ssrc: int | None = None
        self._ts_base = 0
        self._pos_base = 0
        self._ts_cycles = 0
        self._last_ts = 0
        self._end = 0  # end of the audio placed so far
        self._heap: list[Placed] = []
        self._dtmf_ts = -1
        self.first: tuple[int, int, int] | None = None  # first SSRC, its timestamp base, its position base
        self.sender_report: tuple[float, int] | None = None  # first SR of the first SSRC: (NTP s, RTP ts)
        self._banked = (0, 0, 0, 0, 0)  # counts of SSRCs this stream had before the current one
        self.clock = RATE

    def push(self, pkt: RtpPacket, arrival: float) -> None:
        if pkt.ssrc != self._ssrc:
            self._new_ssrc(pkt, arrival)
        assert self._seq is not None
        codec = self.codecs.get(pkt.pt)
        if codec is None:
            # Telephone-events and comfort noise share the stream's sequence numbers: count them
            # (or they would show as losses), but a repeated event end is redundancy, not a duplicate.
            duplicates = self._seq.duplicates
            self._seq.update(pkt.seq)
            self._seq.duplicates = duplicates
            self._sync_stats()
            if pkt.pt >= 96 and len(pkt.payload) == 4:
                event = dtmf_event(pkt.payload)
                if event is not None and event[1] and self._dtmf_ts != pkt.ts:
                    self._dtmf_ts = pkt.ts
                    self.stats.dtmf.append(event[0])
                return
            self.stats.ignored += 1
            return
        if self._seq.update(pkt.seq) is None:
            self._sync_stats()
            return
        delta = (pkt.ts - self._last_ts) & 0xFFFFFFFF
        if delta < 0x80000000:
            if pkt.ts < self._last_ts:
                self._ts_cycles += 1 << 32
            self._last_ts = pkt.ts
            ext_ts = self._ts_cycles + pkt.ts
        else:
            ext_ts = self._ts_cycles + pkt.ts - (1 << 32) if pkt.ts > self._last_ts else self._ts_cycles + pkt.ts
        # Opus counts 48 kHz ticks; the timeline counts 8 kHz samples (recorder/siprec/codecs.py)
        position = self._pos_base + (ext_ts - self._ts_base) * RATE // codec.clock
        if position < 0:
            self._sync_stats()
            return
        if codec.name not in self.stats.codecs:
            self.stats.codecs.append(codec.name)
        if self.first is not None and pkt.ssrc == self.first[0]:
            self.clock = codec.clock  # the RTP clock its sender reports count in
        self._end = max(self._end, position + ticks(codec, pkt.payload))
        heapq.heappush(self._heap, Placed(position, pkt.pt, pkt.payload, arrival))
        self._sync_stats()

    def _new_ssrc(self, pkt: RtpPacket, arrival: float) -> None:
        if self._seq is not None:
            self._bank()
        self._ssrc = pkt.ssrc
        self.stats.ssrcs.append(f"{pkt.ssrc:08x}")
        self._seq = SeqStats()
        self._ts_base = self._last_ts = pkt.ts
        self._ts_cycles = 0
        by_arrival = round((arrival - self.origin) * RATE)
        self._pos_base = max(by_arrival, self._end, 0)
        if self.first is None:
            self.first = (pkt.ssrc, pkt.ts, self._pos_base)

    def _bank(self) -> None:
        """Fold the finished SSRC's counts into the stream's totals."""
        assert self._seq is not None
        s = self._seq
        b = self._banked
        self._banked = (b[0] + s.received, b[1] + s.expected, b[2] + s.lost, b[3] + s.duplicates, b[4] + s.reordered)

    def _sync_stats(self) -> None:
        b = self._banked
        s = self._seq
        assert s is not None
        st = self.stats
        st.packets, st.expected, st.lost = b[0] + s.received, b[1] + s.expected, b[2] + s.lost
        st.duplicates, st.reordered = b[3] + s.duplicates, b[4] + s.reordered

    def rtcp(self, data: bytes) -> None:
        """Read a (compound) RTCP packet; keep the first sender report of the first SSRC."""
        self.stats.rtcp += 1
        pos = 0
        while pos + 4 <= len(data):
            b0, pt, words = struct.unpack_from("!BBH", data, pos)
            if b0 >> 6 != 2:
                return
            if pt == 200 and pos + 20 <= len(data) and self.sender_report is None and self.first is not None:
                ssrc, sec, frac, ts = struct.unpack_from("!IIII", data, pos + 4)
                if ssrc == self.first[0]:
                    self.sender_report = (sec + frac / 2**32, ts)
            pos += 4 * (words + 1)

    def ready(self, now: float | None = None, hold_s: float = 0.1) -> list[Placed]:
        """Packets the jitter buffer lets go now, in timeline order: when ``depth`` newer ones came,
        or (given ``now``) when the oldest has waited ``hold_s`` (a stream that went quiet)."""
        out: list[Placed] = []
        while self._heap and (
            len(self._heap) > self.depth or (now is not None and self._heap[0].arrival < now - hold_s)
        ):
            out.append(heapq.heappop(self._heap))
        return out

    def drain(self) -> list[Placed]:
        out = sorted(self._heap)
        self._heap.clear()
        return out

    @property
    def end(self) -> int:
        return self._end


def align(receivers: dict[int, StreamReceiver]) -> dict[int, int] | None:
    """Shifts (samples) that put every stream where its sender reports say it started, or None when
    not every stream had a sender report (then first-packet arrival stays the alignment).

    The sender's clock dates each stream's first packet (its SR maps NTP time to RTP time); the
    earliest-placed stream keeps its place and the others move by the difference.
    """
    starts: dict[int, tuple[float, int]] = {}
    for idx, r in receivers.items():
        if r.first is None or r.sender_report is None:
            return None
        ntp, sr_ts = r.sender_report
        _, ts_base, pos_base = r.first
        delta = ((sr_ts - ts_base + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        starts[idx] = (ntp - delta / r.clock, pos_base)
    if len(starts) < 2:
        return None
    ref = min(starts, key=lambda i: starts[i][1])
    ref_time, ref_pos = starts[ref]
    shifts = {i: round(ref_pos + (t - ref_time) * RATE) - pos for i, (t, pos) in starts.items()}
    low = min(pos + shifts[i] for i, (_, pos) in starts.items())
    if low < 0:  # a stream the reports date before the reference: move everything later
        shifts = {i: s - low for i, s in shifts.items()}
    return shifts
