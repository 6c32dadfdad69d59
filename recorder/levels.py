"""Live levels: the process recording a call turns its journal into loudness rows as it records.

Each speaker's audio is cut into frames of ``FRAME_S`` (100 ms, at 8 kHz; wideband audio is thinned to
every second sample, enough for loudness) and each frame's RMS in dBFS is written to ``live_levels``
(storage/live_levels.py). The live flags (review_app/workflow/live_flags.py) are judged from those
rows, so long silence, overtalk and raised voice show wherever the review app runs, not only on the
recorder's host.

:class:`Framer` places a call's tap chunks (recorder/siprec/journal.py) per speaker and gives the
frames that are due: up to ``GRACE_S`` behind the furthest audio of either speaker (a packet later than
that is dropped; missing audio is silence), all of them once the call has ended. :func:`follow`
registers a call when its journal opens (recorder/siprec/live.py ``open_call``, both the SIPREC and the
media-stream paths); a thread of this process then reads every followed journal each ``PASS_S``
through its own tap (after the journal write, off the packet path), writes one row per call and pass
in one transaction, and, once the journal is no longer live, writes what is left and deletes the
call's rows (the call has ended). Rows the database refused stay in memory and go with the next pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from recorder.siprec.journal import Tap, TapChunk
from storage import live_levels
from storage.db import session
from storage.errors import CallqcError
from storage.live_levels import DB_SCALE, FRAME_S, LiveLevel

log = logging.getLogger(__name__)
RATE = 8000
FRAME = int(FRAME_S * RATE)
GRACE_S = 0.5
PASS_S = 1.0


@dataclass
class _Speaker:
    base: int = 0  # frame index of samples[0]
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    def put(self, chunks: list[tuple[int, np.ndarray]]) -> None:
        """Place (position, samples) chunks; the buffer grows once per batch, not once per packet."""
        first = self.base * FRAME
        end = max((p + len(d) - first for p, d in chunks), default=0)
        if end > len(self.samples):
            self.samples = np.concatenate([self.samples, np.zeros(end - len(self.samples), dtype=np.int16)])
        for position, data in chunks:
            at = position - first
            if at + len(data) <= 0:
                continue  # already judged: a late packet
            if at < 0:
                data, at = data[-at:], 0
            self.samples[at:at + len(data)] = data

    @property
    def end_frame(self) -> int:
        return self.base + len(self.samples) // FRAME

    def frames(self, upto: int) -> np.ndarray:
        """dBFS of frames base..upto-1 (missing audio is silence); they leave the buffer."""
        n = max(0, upto - self.base)
        block = np.zeros(n * FRAME, dtype=np.float64)
        have = min(len(self.samples), n * FRAME)
        block[:have] = self.samples[:have]
        self.samples, self.base = self.samples[have:], upto
        rms = np.sqrt((block.reshape(n, FRAME) ** 2).mean(axis=1)) if n else np.zeros(0)
        return 20 * np.log10(np.maximum(rms, 1.0) / 32768.0)


class Framer:
    """One call's speakers, framed as their audio arrives: :meth:`feed` gives the frames now due."""

    def __init__(self, start_frame: int = 0) -> None:
        self.speakers: dict[str, _Speaker] = {}
        self.next = start_frame

    def feed(self, chunks: Iterable[TapChunk], *, final: bool = False) -> tuple[int, dict[str, np.ndarray]]:
        """(first frame, dBFS per role) of the frames now due; empty arrays when none is."""
        by_role: dict[str, list[tuple[int, np.ndarray]]] = {}
        for c in chunks:
            data = np.asarray(c.samples, dtype=np.int16)
            if c.rate != RATE:  # wideband: loudness needs no more than every n-th sample
                data = data[:: max(1, c.rate // RATE)]
            by_role.setdefault(c.role, []).append((c.position, data))
        for role, placed in by_role.items():
            self.speakers.setdefault(role, _Speaker(base=self.next)).put(placed)
        ends = [s.end_frame for s in self.speakers.values()]
        # a speaker sending nothing (silence suppressed) must not hold the other back: frames are due up
        # to the furthest audio less a grace for the other's packets still on their way
        upto = max(ends, default=self.next) - (0 if final else round(GRACE_S / FRAME_S))
        start = self.next
        if upto <= start:
            return start, {role: np.zeros(0) for role in self.speakers}
        self.next = upto
        return start, {role: s.frames(upto) for role, s in self.speakers.items()}


def row(call_id: str, start: int, levels: dict[str, np.ndarray]) -> LiveLevel | None:
    """The row of these frames (None when there are none)."""
    n = max((len(v) for v in levels.values()), default=0)
    if n == 0:
        return None
    return LiveLevel(call_id=call_id, start_frame=start, frames=n,
                     levels={role: [round(float(v) * DB_SCALE) for v in d] for role, d in levels.items()})


class _Followed:
    def __init__(self, tap: Tap, call_id: str) -> None:
        self.tap, self.call_id = tap, call_id
        self.framer = Framer()
        self.pending: list[LiveLevel] = []
        self.ended = False


_followed: dict[str, _Followed] = {}
_lock = threading.Lock()
_pass = threading.Lock()  # one pass at a time: a tap is read by one thread
_thread: threading.Thread | None = None


def follow(data_dir: Path, call_id: str, *, start_thread: bool = True) -> None:
    """Write this call's levels while its journal (on this host, held by this process) is live."""
    global _thread
    with _lock:
        if call_id in _followed:
            return
        try:
            _followed[call_id] = _Followed(Tap(data_dir, call_id), call_id)
        except FileNotFoundError:
            log.warning("levels: no journal for %s", call_id)
            return
        if start_thread and (_thread is None or not _thread.is_alive()):
            _thread = threading.Thread(target=_loop, name="live-levels", daemon=True)
            _thread.start()


def write_once() -> int:
    """One pass over the followed calls: frame what their journals gained, write the rows, finish the
    ended calls (their rows deleted). How many rows were written."""
    with _pass:
        return _write_pass()


def _write_pass() -> int:
    with _lock:
        calls = list(_followed.values())
    for f in calls:
        if f.ended:
            continue
        live = f.tap.live
        start, levels = f.framer.feed(f.tap.read(), final=not live)
        if (r := row(f.call_id, start, levels)) is not None:
            f.pending.append(r)
        f.ended = not live
    rows = [r for f in calls for r in f.pending]
    done = [f for f in calls if f.ended]
    try:
        with session(write=True) as s:
            live_levels.add(s, rows)
            for f in done:
                live_levels.drop(s, f.call_id)
    except (SQLAlchemyError, CallqcError) as exc:
        log.warning("levels: %d row(s) not written, kept for the next pass: %s", len(rows),
                    str(exc).splitlines()[0][:200])
        return 0
    for f in calls:
        f.pending = []
    with _lock:
        for f in done:
            _followed.pop(f.call_id, None)
    return len(rows)


def _loop() -> None:
    while True:
        time.sleep(PASS_S)
        with _lock:
            if not _followed:
                continue
        try:
            write_once()
        except Exception:  # noqa: BLE001 - the thread must outlive one bad pass (a journal cut short)
            log.exception("levels: pass failed")
