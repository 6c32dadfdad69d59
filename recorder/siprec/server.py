"""The SIPREC recording server: the SIP methods and the life of each recording session, asyncio.

The sockets that carry SIP are :mod:`recorder.siprec.transport`'s, the RTP sockets
:mod:`recorder.siprec.media`'s (read in batches, drained before they are closed at BYE), the timers
:mod:`recorder.siprec.upkeep`'s. Blocking work (database, journal fsync, WAV building, upload) runs
in threads; the loop only moves packets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from recorder import levels
from recorder.siprec import codecs, live, media, rsmeta, sdp, upkeep
from recorder.siprec.media import PortRange
from recorder.siprec.rtp import StreamReceiver, align
from recorder.siprec.session import Dialog, InviteOffer, read_invite, read_update, status_of
from recorder.siprec.sipmsg import SipMessage, response
from recorder.siprec.transport import Reply, SipListeners
from storage import pauses
from storage.db import session
from storage.errors import CallqcError
from storage.settings import Settings, get_settings

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0  # RFC 3261 timers: the 200's retransmissions over UDP start at T1, double up to T2
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"


class SrsServer:
    def __init__(self, settings: Settings | None = None) -> None:
        self.s = settings or get_settings()
        self.media_ip = self.s.siprec_media_ip or self.s.siprec_host
        self.ports = PortRange(self.s.siprec_rtp_port_min, self.s.siprec_rtp_port_max)
        self.codecs = codecs.configured(self.s.siprec_codecs)  # fails at start if FFmpeg lacks a decoder
        self.dialogs: dict[str, Dialog] = {}
        self.ended: dict[str, tuple[float, bytes | None]] = {}  # sip call-id -> (when, BYE answer)
        self.listeners = SipListeners(self.s, self._dispatch)
        self.tasks: list[asyncio.Task[None]] = []
        self.finishing: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.finaliser = ThreadPoolExecutor(max_workers=4, thread_name_prefix="siprec-finalise")
        self.methods: dict[str, Callable[[SipMessage, Reply, str, bool], None]] = {
            "OPTIONS": self._sip_options, "INVITE": self._sip_invite, "ACK": self._sip_ack, "BYE": self._sip_bye,
            "CANCEL": self._sip_cancel, "UPDATE": self._sip_update,
        }

    # --- life -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        done, pending = await asyncio.to_thread(live.recover, self.s.data_dir)
        if done or pending:
            log.warning("siprec: recovered %d journal(s) at start, %d still pending upload", done, pending)
        transports = await self.listeners.start()
        self.tasks = [asyncio.create_task(upkeep.flush_loop(self)), asyncio.create_task(upkeep.poll_loop(self))]
        log.warning("siprec: listening on %s:%d (%s), RTP %d-%d", self.s.siprec_host, self.s.siprec_port, transports,
                    self.s.siprec_rtp_port_min, self.s.siprec_rtp_port_max)

    async def stop(self) -> None:
        """End every live call as if hung up (journals finalised), then close the listeners."""
        for d in list(self.dialogs.values()):
            if d.state in ("answering", "confirmed"):
                self.end(d, "recorder_stopped")
        if self.finishing:
            await asyncio.gather(*self.finishing, return_exceptions=True)
        self.finaliser.shutdown(wait=True)
        for t in self.tasks:
            t.cancel()
        await self.listeners.stop()

    # --- methods ----------------------------------------------------------------------------------
    def _dispatch(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        assert msg.method is not None
        handler = self.methods.get(msg.method)
        if handler is None:
            reply(response(msg, 405, to_tag=secrets.token_hex(6), headers=[("Allow", ALLOW)]).encode())
            return
        handler(msg, reply, label, udp)

    def _sip_options(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        reply(response(msg, 200, to_tag=secrets.token_hex(6), headers=[
            ("Allow", ALLOW), ("Accept", "application/sdp, application/rs-metadata+xml, multipart/mixed"),
            ("Supported", "siprec"),
        ]).encode())

    def _sip_invite(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is not None:
            if msg.to_tag is None or msg.cseq[0] == d.invite_cseq:
                if d.final is not None:
                    reply(d.final)  # a retransmission: the same answer
                return
            self._reinvite(d, msg, reply, "INVITE")
            return
        if msg.call_id in self.ended:
            return  # a stray retransmission of a finished call
        try:
            offer = read_invite(msg, allow_plain=self.s.siprec_allow_plain, agent_pattern=self.s.siprec_agent_aor,
                                codecs=self.codecs)
        except (CallqcError, ValueError) as exc:
            code = status_of(exc)
            headers = [("Require", "siprec")] if code == 421 else []
            if code == 420:
                headers = [("Unsupported", str(exc).split(": ", 1)[-1])]
            log.warning("siprec: %s: INVITE refused %s: %s", label, code, exc)
            reply(response(msg, code, to_tag=secrets.token_hex(6), headers=headers).encode())
            return
        try:
            ports, socks = self.ports.take(self.s.siprec_host, len(offer.offer.media))
        except OSError as exc:
            log.error("siprec: %s: INVITE refused 503: %s", label, exc)
            reply(response(msg, 503, to_tag=secrets.token_hex(6), headers=[("Retry-After", "5")]).encode())
            return
        if udp:
            reply(response(msg, 100).encode())
        now = datetime.now(UTC)
        d = Dialog(msg.call_id, live.new_call_id("srs", msg.call_id, now), secrets.token_hex(8), msg.cseq[0],
                   reply, udp, offer, ports=ports)
        recorded = {spec.mline: spec.index for spec in offer.specs}
        for mline, (sock, rtcp) in enumerate(socks):
            if mline in recorded:
                d.sockets[recorded[mline]] = sock
                d.rtcp[recorded[mline]] = rtcp
            else:
                sock.close()
                rtcp.close()
        d.ports = [p if m in recorded else 0 for m, p in enumerate(ports)]
        self.ports.give_back([p for m, p in enumerate(ports) if m not in recorded])
        self.dialogs[msg.call_id] = d
        offer.extra["peer"] = label
        self._spawn(self._answer(d, msg, now))

    async def _answer(self, d: Dialog, msg: SipMessage, now: datetime) -> None:
        try:
            await self._answer_call(d, msg, now)
        except Exception as exc:
            log.error("siprec: %s: answering failed: %s", d.call_id, exc)
            d.final = response(msg, 500, to_tag=d.to_tag).encode()
            d.reply(d.final)
            self._close_media(d, drain=False)
            if d.journal is not None:
                d.journal.release(remove=False)  # whatever it holds is recovered by the retry
            self.ended[d.sip_call_id] = (time.monotonic(), None)
            self._forget(d)

    async def _answer_call(self, d: Dialog, msg: SipMessage, now: datetime) -> None:
        o = d.offer
        d.journal = await asyncio.to_thread(
            live.open_call, d.call_id, source="siprec", meta=o.meta, streams=o.specs, channel_map=o.channel_map,
            extra=o.extra, answered_at=now,
        )
        levels.ensure_writing()  # the live flags' loudness rows (recorder/levels.py)
        if d.cancelled:
            d.final = response(msg, 487, to_tag=d.to_tag).encode()
            d.reply(d.final)
            self._close_media(d, drain=False)
            await asyncio.to_thread(live.cancel_call, d.journal, reason="cancelled before answer")
            self._forget(d)
            return
        d.origin, d.last_rtp = now.timestamp(), time.monotonic()
        d.answered_at = now
        by_index = {spec.index: spec for spec in o.specs}
        for idx, sock in d.sockets.items():
            d.receivers[idx] = StreamReceiver(d.origin, depth=self.s.siprec_jitter_packets,
                                              codecs=codecs.from_names(by_index[idx].payload_types))
            assert self.loop is not None
            self.loop.add_reader(sock.fileno(), media.on_rtp, d, idx, sock)
        for idx, sock in d.rtcp.items():
            assert self.loop is not None
            self.loop.add_reader(sock.fileno(), media.on_rtcp, d, idx, sock)
        body = sdp.answer(o.offer, self.media_ip, d.ports, codecs=self.codecs)
        contact = f"<sip:srs@{self.media_ip}:{self.s.siprec_port}>"
        d.final = response(msg, 200, to_tag=d.to_tag, body=body, headers=[
            ("Contact", contact), ("Allow", ALLOW), ("Require", "siprec") if o.siprec else ("Supported", "siprec"),
        ]).encode()
        d.state = "confirmed"
        d.reply(d.final)
        if d.udp:
            self._retransmit(d, T1, 0.0)

    def _retransmit(self, d: Dialog, interval: float, spent: float) -> None:
        def fire() -> None:
            if d.acked or d.state not in ("confirmed",) or d.final is None:
                return
            if spent + interval >= upkeep.TIMER_H:
                log.warning("siprec: %s: no ACK for the 200 after %.0f s", d.call_id, upkeep.TIMER_H)
                return
            d.reply(d.final)
            self._retransmit(d, min(2 * interval, T2), spent + interval)

        assert self.loop is not None
        d.retrans = self.loop.call_later(interval, fire)

    def _sip_ack(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is not None:
            d.acked = True
            if d.retrans is not None:
                d.retrans.cancel()

    def _sip_bye(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is None:
            code = 200 if msg.call_id in self.ended else 481
            reply(response(msg, code).encode())
            return
        reply(response(msg, 200).encode())
        d.acked = True
        if d.retrans is not None:
            d.retrans.cancel()
        self.end(d, "bye")

    def _sip_cancel(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is None:
            reply(response(msg, 481).encode())
            return
        reply(response(msg, 200, to_tag=d.to_tag).encode())
        if d.state == "answering":
            d.cancelled = True

    def _sip_update(self, msg: SipMessage, reply: Reply, label: str, udp: bool) -> None:
        d = self.dialogs.get(msg.call_id)
        if d is None or d.state != "confirmed":
            reply(response(msg, 481).encode())
            return
        self._reinvite(d, msg, reply, "UPDATE")

    def _reinvite(self, d: Dialog, msg: SipMessage, reply: Reply, method: str) -> None:
        offer, rs = read_update(msg)
        if rs is not None:
            merged = d.offer.rs or rsmeta.RecordingMeta()
            merged.update(rs)
            d.offer.rs = merged
            d.offer.extra["rs_metadata"] = merged.as_dict()
            if d.journal is not None:
                d.journal.update(extra=d.offer.extra)
            log.info("siprec: %s: metadata updated by %s", d.call_id, method)
        body = b""
        if offer is not None:
            recorded = [offer.media[s.mline] for s in d.offer.specs if s.mline < len(offer.media)]
            inactive = bool(recorded) and all(m.direction in ("inactive", "recvonly") for m in recorded)
            if inactive != d.inactive:
                d.inactive = inactive
                at = datetime.now(UTC)
                start = d.local_span[0] if d.local_span else d.position_at(at)
                d.local_span = (start, None if inactive else d.position_at(at))
                self._spawn(self._siprec_pause(d, inactive, at))
            ports = d.ports + [0] * max(0, len(offer.media) - len(d.ports))
            body = sdp.answer(offer, self.media_ip, ports[: len(offer.media)], codecs=self.codecs)
        out = response(msg, 200, to_tag=d.to_tag, body=body, headers=[("Contact",
                       f"<sip:srs@{self.media_ip}:{self.s.siprec_port}>")]).encode()
        reply(out)

    async def _siprec_pause(self, d: Dialog, inactive: bool, at: datetime) -> None:
        def write() -> None:
            with session(write=True) as s:
                if inactive:
                    pauses.pause(s, d.call_id, "siprec", at=at)
                else:
                    pauses.resume(s, d.call_id, "siprec", at=at)

        try:
            await asyncio.to_thread(write)
            log.info("siprec: %s: %s (a=inactive)", d.call_id, "paused" if inactive else "resumed")
        except CallqcError as exc:
            log.warning("siprec: %s: pause/resume: %s", d.call_id, exc)

    def _close_media(self, d: Dialog, *, drain: bool) -> None:
        assert self.loop is not None
        media.close(d, self.loop, drain=drain)
        self.ports.give_back([p for p in d.ports if p])

    def end(self, d: Dialog, reason: str) -> None:
        if d.state in ("ending", "ended"):
            return
        if d.state == "answering":
            d.cancelled = True
            return
        d.state = "ending"
        self._close_media(d, drain=True)
        stats = d.stats()
        shifts = align(d.receivers)
        if shifts is not None and d.journal is not None:
            d.journal.index["streams"] = [{**st, "shift": shifts.get(st["index"], 0)}
                                          for st in d.journal.index["streams"]]
        if d.journal is not None:
            d.journal.index["aligned_by"] = "rtcp_sr" if shifts is not None else "arrival"
        ended = datetime.now(UTC)
        journal = d.journal
        self.ended[d.sip_call_id] = (time.monotonic(), None)
        self._forget(d)
        if journal is not None:
            self._spawn(self._finish(journal, reason, stats, ended))

    async def _finish(self, journal: live.Journal, reason: str, stats: dict[str, object], ended: datetime) -> None:
        # Own threads: a burst of hang-ups must not delay the fsyncs and pause polls of live calls.
        assert self.loop is not None
        await self.loop.run_in_executor(
            self.finaliser, functools.partial(live.end_call, journal, reason=reason, stats=stats, ended_at=ended)
        )

    def _forget(self, d: Dialog) -> None:
        d.state = "ended"
        if d.retrans is not None:
            d.retrans.cancel()
        self.dialogs.pop(d.sip_call_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.finishing.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("siprec: background step failed: %s", task.exception())


async def serve(settings: Settings | None = None, *, stop: asyncio.Event | None = None) -> None:
    server = SrsServer(settings)
    await server.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()


__all__ = ["SrsServer", "serve", "InviteOffer"]
