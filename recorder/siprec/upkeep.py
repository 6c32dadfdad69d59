"""The recording server's timers: what keeps live calls durable and ends the ones that went quiet.

- every ``siprec_flush_s``: packets a quiet stream's jitter buffer still holds are let go, journals are
  written (the live tap's delay), every ``siprec_fsync_s`` fsynced (what a machine crash can lose);
  calls with no RTP for ``siprec_rtp_timeout_s`` end as ``rtp_timeout``; finished SIP Call-IDs are
  forgotten after 32 s (RFC 3261 timer H);
- every 0.25 s: the API pauses of live calls are polled from the database (so PCI audio stops being
  journaled within that), and every ``siprec_retry_s`` journals left behind (failed uploads, dead
  recorders) are retried.

A failing round is logged and never stops the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from recorder.siprec import live
from recorder.siprec.journal import Journal
from recorder.siprec.session import Dialog
from storage.settings import Settings

log = logging.getLogger("recorder.siprec.server")

TIMER_H = 32.0  # RFC 3261: how long a finished transaction's Call-ID is remembered


class Calls(Protocol):
    """What the timers need of the server."""

    s: Settings
    dialogs: dict[str, Dialog]
    ended: dict[str, tuple[float, bytes | None]]

    def end(self, d: Dialog, reason: str) -> None: ...


async def flush_loop(srv: Calls) -> None:
    last_sync = time.monotonic()
    while True:
        await asyncio.sleep(srv.s.siprec_flush_s)
        try:
            last_sync = await flush_once(srv, last_sync)
        except Exception:
            log.exception("siprec: timer round failed")


async def flush_once(srv: Calls, last_sync: float) -> float:
    now = time.monotonic()
    live_dialogs = [d for d in srv.dialogs.values() if d.journal is not None and d.state == "confirmed"]
    for d in live_dialogs:
        assert d.journal is not None
        for idx, r in d.receivers.items():
            stale = r.ready(time.time())  # a stream that went quiet: don't hold its last packets back
            if stale:
                d.journal.add(idx, d.keep(stale))
        d.journal.flush()
    journals = [d.journal for d in live_dialogs if d.journal is not None]
    if now - last_sync >= srv.s.siprec_fsync_s:
        last_sync = now
        await asyncio.to_thread(_fsync_all, journals)
    for d in list(srv.dialogs.values()):
        # An inactive (paused) SIPREC call sends no RTP on purpose: no timeout for it.
        if d.state == "confirmed" and not d.inactive and now - d.last_rtp > srv.s.siprec_rtp_timeout_s:
            log.warning("siprec: %s: no RTP for %.0f s, ending the call", d.call_id, now - d.last_rtp)
            srv.end(d, "rtp_timeout")
    cutoff = now - TIMER_H
    for key in [k for k, (t, _) in srv.ended.items() if t < cutoff]:
        del srv.ended[key]
    return last_sync


async def poll_loop(srv: Calls) -> None:
    last_retry = time.monotonic()
    while True:
        await asyncio.sleep(0.25)
        live_ids = {d.call_id: d for d in srv.dialogs.values() if d.state == "confirmed"}
        if live_ids:
            try:
                spans = await asyncio.to_thread(live.pause_spans, list(live_ids))
            except Exception as exc:  # noqa: BLE001 - the database may be away; keep recording
                log.warning("siprec: pause poll failed: %s", exc)
            else:
                for cid, d in live_ids.items():
                    d.spans = [(d.position_at(a), None if b is None else d.position_at(b))
                               for a, b in spans.get(cid, [])]
        if time.monotonic() - last_retry >= srv.s.siprec_retry_s:
            last_retry = time.monotonic()
            try:
                done, pending = await asyncio.to_thread(live.recover, srv.s.data_dir)
            except Exception:
                log.exception("siprec: journal retry failed")
                continue
            if done or pending:
                log.warning("siprec: retried journals: %d stored, %d still pending", done, pending)


def _fsync_all(journals: list[Journal]) -> None:
    for j in journals:
        j.fsync()
