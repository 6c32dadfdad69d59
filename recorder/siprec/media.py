"""Media sockets of the recording server: RTP/RTCP port pairs from the configured range, batched
reads into the streams' receivers and journal, and draining at the end of a call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from recorder.siprec.rtp import parse
from recorder.siprec.session import Dialog

log = logging.getLogger(__name__)

BATCH = 64  # datagrams read per readiness: a thousand RTP sockets must not starve the SIP socket


class PortRange:
    """Even local ports P, P+2, ... for a call's streams, from the configured range."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low + (low & 1)
        self.high = high
        self.used: set[int] = set()
        self.cursor = self.low

    def take(self, host: str, n: int) -> tuple[list[int], list[tuple[socket.socket, socket.socket]]]:
        """Ports P, P+2, ... and per port its RTP socket (P) and RTCP socket (P+1)."""
        span = self.high - self.low + 1
        for _ in range(max(1, span // 2)):
            base = self.cursor
            self.cursor += 2 * n
            if self.cursor + 2 * n > self.high:
                self.cursor = self.low
            ports = [base + 2 * i for i in range(n)]
            if ports[-1] > self.high or any(p in self.used for p in ports):
                continue
            socks: list[socket.socket] = []
            try:
                for p in ports:
                    for port in (p, p + 1):
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        socks.append(s)
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
                        s.bind((host, port))
                        s.setblocking(False)
            except OSError:
                for s in socks:
                    s.close()
                continue
            self.used.update(ports)
            return ports, list(zip(socks[0::2], socks[1::2], strict=True))
        raise OSError("no free RTP ports in the configured range")

    def give_back(self, ports: list[int]) -> None:
        self.used.difference_update(ports)


def on_rtp(d: Dialog, idx: int, sock: socket.socket) -> None:
    read_rtp(d, idx, sock, BATCH)


def read_rtp(d: Dialog, idx: int, sock: socket.socket, limit: int) -> int:
    receiver = d.receivers[idx]
    now = time.time()  # arrival times are wall-clock: the journal keeps them as Unix time
    got = 0
    for _ in range(limit):
        try:
            data = sock.recv(2048)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            continue
        got += 1
        pkt = parse(data)
        if pkt is not None:
            digits = len(receiver.stats.dtmf)
            receiver.push(pkt, now)
            if len(receiver.stats.dtmf) > digits:  # telephone-events are not recorded, only logged
                log.info("siprec: %s: DTMF %s on stream %d", d.call_id, receiver.stats.dtmf[-1], idx)
        elif len(data) > 1 and 200 <= data[1] <= 204:
            receiver.rtcp(data)  # RTCP multiplexed on the RTP port (rtcp-mux)
    if got:
        d.last_rtp = time.monotonic()
        ready = receiver.ready()
        if ready and d.journal is not None:
            d.journal.add(idx, d.keep(ready))
    return got


def on_rtcp(d: Dialog, idx: int, sock: socket.socket) -> None:
    receiver = d.receivers.get(idx)
    for _ in range(BATCH):
        try:
            data = sock.recv(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue
        if receiver is not None:
            receiver.rtcp(data)


def close(d: Dialog, loop: asyncio.AbstractEventLoop, *, drain: bool) -> None:
    """Stop reading, drain the RTP sockets (close() would drop what is queued), close, empty the jitter buffers."""
    for sock in d.rtcp.values():
        with contextlib.suppress(Exception):
            loop.remove_reader(sock.fileno())
        sock.close()
    for idx, sock in d.sockets.items():
        with contextlib.suppress(Exception):
            loop.remove_reader(sock.fileno())
        if drain and idx in d.receivers:
            read_rtp(d, idx, sock, 1 << 30)  # reads until the socket's queue is empty
        sock.close()
    for idx, r in d.receivers.items():
        rest = r.drain()
        if rest and d.journal is not None:
            d.journal.add(idx, d.keep(rest))
