"""The live transcriber: follows live calls' audio taps and stores their transcript as the speakers pause.

It runs as its own process, ``callqc live-transcribe`` (a part of ``callqc up``), on the recorder host:
it reads the live audio tap (recorder/siprec/journal.py), which is local disk. It follows the calls
someone opened in the review app (storage/live_watches.py), or every live call on this host with
``live_transcript_all``, from the moment it starts following (the live edge first: what was said
before is in the full transcript after the call) to the call's end.

How: every :data:`POLL_S` each followed call's new audio is read and cut into windows per speaker,
ended at pauses (transcribe/live.py); each window goes to a pool of ``asr_num_workers`` threads, one
per replica of the live model, so windows of different calls (and of both speakers) are transcribed
at the same time instead of taking turns. Each window's lines are stored in one transaction when its
transcription ends. A window is taken from its speaker's buffer once, so no line is stored twice; a
window whose transcription fails is logged and lost (the full transcript after the call has it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recorder.media import journal_end
from recorder.siprec.journal import Tap, live_calls
from storage.db import session
from storage.live_segments import LiveSegment, add
from storage.live_watches import watched_live
from storage.segments import Segment
from storage.settings import get_settings
from transcribe.live import RATE, SpeakerBuffer, transcribe_live

log = logging.getLogger(__name__)
POLL_S = 0.2  # the recorder writes the journal every siprec_flush_s (0.2 s)
CALLS_S = 1.0  # how often the calls to follow are looked up
CHANNEL = {"agent": 0, "customer": 1}

Transcribe = Callable[[np.ndarray, float, str, int], list[Segment]]


@dataclass(frozen=True)
class Window:
    """One speaker's stretch of a call, cut at a pause, not yet transcribed."""

    call_id: str
    speaker: str
    samples: np.ndarray  # 8 kHz int16
    start: int  # first sample, since the call was answered

    @property
    def channel(self) -> int:
        return CHANNEL.get(self.speaker, 2)


class LiveTranscriber:
    """One call followed: its tap and one buffer per speaker. :meth:`windows` cuts what is ready;
    :meth:`step` and :meth:`run` also transcribe it, here and now (one call alone)."""

    def __init__(self, tap: Tap, call_id: str, *, transcribe: Transcribe = transcribe_live) -> None:
        self.tap, self.call_id, self.transcribe = tap, call_id, transcribe
        self.buffers: dict[str, SpeakerBuffer] = {}
        # from where the call is now: the live edge first, not a backlog of what was said before
        tap.seek(journal_end(tap))

    def windows(self, *, final: bool = False) -> list[Window]:
        """The windows ready now (``final``: the call ended, the rest too)."""
        for chunk in self.tap.read():
            self.buffers.setdefault(chunk.role, SpeakerBuffer()).put(chunk)
        out = []
        for role, buf in sorted(self.buffers.items()):
            while (got := buf.take(final=final)) is not None:
                out.append(Window(self.call_id, role, got[0], got[1]))
        return out

    def store(self, window: Window) -> list[LiveSegment]:
        """Transcribe one window and store its lines (one transaction); the lines stored."""
        segs = self.transcribe(window.samples, window.start / RATE, window.speaker, window.channel)
        rows = [LiveSegment(call_id=window.call_id, speaker=s.speaker, channel=window.channel, start_s=s.start,
                            end_s=s.end, text=s.text) for s in segs]
        if not rows:
            return []
        with session(write=True) as s:
            stored = add(s, rows)
        return rows if stored else []

    def step(self, *, final: bool = False) -> list[LiveSegment]:
        return [row for w in self.windows(final=final) for row in self.store(w)]

    def run(self) -> None:
        while self.tap.live:
            self.step()
            time.sleep(POLL_S)
        self.step(final=True)


class LiveWorker:
    """Follows the calls to transcribe on this host and transcribes their windows on a pool of threads."""

    def __init__(self, data_dir: Path, *, transcribe: Transcribe = transcribe_live,
                 every_call: bool | None = None, threads: int | None = None) -> None:
        s = get_settings()
        self.data_dir, self.transcribe = data_dir, transcribe
        self.every_call = s.live_transcript_all if every_call is None else every_call
        self.threads = threads or s.asr_num_workers
        self.following: dict[str, LiveTranscriber] = {}
        self.done: set[str] = set()  # followed to their end: not followed again
        self.pending: set[Future[list[LiveSegment]]] = set()

    def wanted(self) -> list[str]:
        """The calls to follow now: live on this host, and watched (or all of them)."""
        here = {index["call_id"] for index in live_calls(self.data_dir)}
        if self.every_call:
            return sorted(here)
        with session() as s:
            return [cid for cid in watched_live(s) if cid in here]

    def refresh(self) -> None:
        wanted = self.wanted()
        self.done &= set(wanted)  # an ended call leaves the live list: forget it
        for cid in wanted:
            if cid in self.following or cid in self.done:
                continue
            try:
                self.following[cid] = LiveTranscriber(Tap(self.data_dir, cid), cid, transcribe=self.transcribe)
            except FileNotFoundError:
                continue  # ended and stored a moment ago
            log.info("live transcript: following %s", cid)

    def _store(self, follower: LiveTranscriber, window: Window) -> list[LiveSegment]:
        try:
            return follower.store(window)
        except Exception:  # noqa: BLE001 - one lost window must not stop the other calls' transcripts
            log.exception("live transcript of %s: window at %.1f s lost", window.call_id, window.start / RATE)
            return []

    def poll(self, pool: ThreadPoolExecutor) -> None:
        """One pass: every followed call's ready windows to the pool; ended calls finished and let go."""
        for cid, follower in list(self.following.items()):
            ended = not follower.tap.live
            for w in follower.windows(final=ended):
                self.pending.add(pool.submit(self._store, follower, w))
            if ended:
                del self.following[cid]
                self.done.add(cid)
                log.info("live transcript: %s ended", cid)
        self.pending = {f for f in self.pending if not f.done()}

    @property
    def idle(self) -> bool:
        """No window waiting for or in transcription."""
        return all(f.done() for f in self.pending)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: follow, cut, transcribe; then finish the windows already taken."""
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="live") as pool:
            looked = 0.0
            while not stop.is_set():
                try:
                    if (now := time.monotonic()) - looked >= CALLS_S:
                        looked = now
                        self.refresh()
                    self.poll(pool)
                except Exception:  # noqa: BLE001 - a database blip: try again on the next pass
                    log.exception("live transcript: pass failed")
                stop.wait(POLL_S)
