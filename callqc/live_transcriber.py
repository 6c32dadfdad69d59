"""The live transcriber: follows live calls' audio taps and stores their transcript as the speakers pause.

It runs as its own process, ``callqc live-transcribe`` (a part of ``callqc up``), on the recorder host:
it reads the live audio tap (recorder/siprec/journal.py), which is local disk. It follows the calls
someone opened in the review app (storage/live_watches.py), or every live call on this host with
``live_transcript_all``, from the moment it starts following (the live edge first: what was said
before is in the full transcript after the call) to the call's end.

How: every :data:`POLL_S` each followed call's new audio is read and cut into windows per speaker,
ended at pauses (transcribe/live.py), and the windows join one waiting line. ``asr_num_workers``
threads, one per replica of the live model, each take a share of what waits (all of it split
between the free threads, at most :data:`MAX_BATCH` each) and transcribe it as one batched call, so
windows of different calls (and of both speakers) are transcribed together and at the same time
instead of taking turns. A batch's lines are stored in one transaction when it ends. A window is
taken from its speaker's buffer once and from the waiting line once, so no line is stored twice; a
batch whose transcription fails is logged and lost (the full transcript after the call has it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
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
from transcribe.live import RATE, Said, SpeakerBuffer, transcribe_live

log = logging.getLogger(__name__)
POLL_S = 0.2  # the recorder writes the journal every siprec_flush_s (0.2 s)
CALLS_S = 1.0  # how often the calls to follow are looked up
CHANNEL = {"agent": 0, "customer": 1}

Transcribe = Callable[[Sequence[Said]], list[list[Segment]]]
MAX_BATCH = 8  # windows in one batched call of the model


@dataclass(frozen=True)
class Window:
    """One speaker's stretch of a call, cut at a pause, not yet transcribed."""

    call_id: str
    speaker: str
    samples: np.ndarray  # 8 kHz int16
    start: int  # first sample, since the call was answered

    @property
    def said(self) -> Said:
        return Said(self.samples, self.start / RATE, self.speaker, CHANNEL.get(self.speaker, 2))


def transcribe_and_store(windows: Sequence[Window], transcribe: Transcribe = transcribe_live) -> list[LiveSegment]:
    """Transcribe windows (of any calls) in one batch and store their lines in one transaction; the
    lines stored."""
    if not windows:
        return []
    lines = transcribe([w.said for w in windows])
    rows = [LiveSegment(call_id=w.call_id, speaker=seg.speaker, channel=w.said.channel, start_s=seg.start,
                        end_s=seg.end, text=seg.text) for w, segs in zip(windows, lines, strict=True) for seg in segs]
    if not rows:
        return []
    with session(write=True) as s:
        add(s, rows)
    return [r for r in rows if r.id is not None]  # not those of a call whose full transcript is stored


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

    def step(self, *, final: bool = False) -> list[LiveSegment]:
        return transcribe_and_store(self.windows(final=final), self.transcribe)

    def run(self) -> None:
        while self.tap.live:
            self.step()
            time.sleep(POLL_S)
        self.step(final=True)


class LiveWorker:
    """Follows the calls to transcribe on this host; ``threads`` threads (one per model replica) take the
    windows waiting, a share each, and transcribe each share as one batch."""

    def __init__(self, data_dir: Path, *, transcribe: Transcribe = transcribe_live,
                 every_call: bool | None = None, threads: int | None = None) -> None:
        s = get_settings()
        self.data_dir, self.transcribe = data_dir, transcribe
        self.every_call = s.live_transcript_all if every_call is None else every_call
        self.threads = threads or s.asr_num_workers
        self.following: dict[str, LiveTranscriber] = {}
        self.done: set[str] = set()  # followed to their end: not followed again
        self.waiting: deque[Window] = deque()
        self.busy = 0
        self.ready = threading.Condition()

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

    def poll(self) -> None:
        """One pass: every followed call's ready windows to the waiting line; ended calls let go."""
        for cid, follower in list(self.following.items()):
            ended = not follower.tap.live
            ready = follower.windows(final=ended)
            if ready:
                with self.ready:
                    self.waiting.extend(ready)
                    self.ready.notify_all()
            if ended:
                del self.following[cid]
                self.done.add(cid)
                log.info("live transcript: %s ended", cid)

    @property
    def idle(self) -> bool:
        """No window waiting for or in transcription."""
        with self.ready:
            return not self.waiting and not self.busy

    def _transcribe(self, stop: threading.Event) -> None:
        """One thread: a share of the waiting windows as one batch, until stopped with none waiting."""
        while True:
            with self.ready:
                while not self.waiting and not stop.is_set():
                    self.ready.wait(1.0)
                if not self.waiting:
                    return
                share = -(-len(self.waiting) // max(1, self.threads - self.busy))
                batch = [self.waiting.popleft() for _ in range(min(MAX_BATCH, share))]
                self.busy += 1
            try:
                transcribe_and_store(batch, self.transcribe)
            except Exception:  # noqa: BLE001 - lost lines must not stop the other calls' transcripts
                log.exception("live transcript: %d windows lost (%s)", len(batch),
                              ", ".join(sorted({w.call_id for w in batch})))
            finally:
                with self.ready:
                    self.busy -= 1

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: follow, cut, transcribe; then finish the windows already taken."""
        threads = [threading.Thread(target=self._transcribe, args=(stop,), name=f"live-{k}", daemon=True)
                   for k in range(self.threads)]
        for t in threads:
            t.start()
        looked = 0.0
        while not stop.is_set():
            try:
                if (now := time.monotonic()) - looked >= CALLS_S:
                    looked = now
                    self.refresh()
                self.poll()
            except Exception:  # noqa: BLE001 - a database blip: try again on the next pass
                log.exception("live transcript: pass failed")
            stop.wait(POLL_S)
        with self.ready:
            self.ready.notify_all()
        for t in threads:
            t.join()
