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
media-stream paths) and the recording server starts :func:`ensure_writing`: a task of its event loop
that, each ``PASS_S``, has a worker thread read every followed journal through its own tap (after the
journal write, off the packet path) and write one row per call and pass in one transaction; once a
journal is no longer live it writes what is left and deletes the call's rows (the call has ended).
Rows the database refused stay in memory and go with the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import threading
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
from storage.settings import get_settings

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
    def __init__(self, tap: Tap, call_id: str, database: str) -> None:
        self.tap, self.call_id, self.database = tap, call_id, database
        self.framer = Framer()
        self.pending: list[LiveLevel] = []
        self.ended = False


_followed: dict[str, _Followed] = {}
_lock = threading.Lock()
_pass = threading.Lock()  # one pass at a time: a tap is read by one thread
_task: asyncio.Task[None] | None = None


def follow(data_dir: Path, call_id: str) -> None:
    """Write this call's levels while its journal (on this host, held by this process) is live."""
    with _lock:
        known = _followed.get(call_id)
        if known is not None and known.tap.folder == Tap.folder_of(data_dir, call_id):
            return
        try:
            _followed[call_id] = _Followed(Tap(data_dir, call_id), call_id, get_settings().resolved_database_url)
        except (FileNotFoundError, CallqcError) as exc:  # never in the way of recording
            log.warning("levels: %s not followed: %s", call_id, str(exc).splitlines()[0][:200])
            return


def write_once() -> int:
    """One pass over the followed calls: frame what their journals gained, write the rows, finish the
    ended calls (their rows deleted). How many rows were written."""
    with _pass:
        return _write_pass()


def _write_pass() -> int:
    database = get_settings().resolved_database_url
    with _lock:
        for gone in [f for f in _followed.values() if f.database != database]:
            del _followed[gone.call_id]  # followed under another database (only tests switch them)
        calls = list(_followed.values())
    for f in calls:
        if f.ended:
            continue
        live = f.tap.live
        start, levels = f.framer.feed(f.tap.read(), final=not live)
        if (r := row(f.call_id, start, levels)) is not None:
            f.pending.append(r)
        f.ended = not live
    mine = [f for f in calls if f.pending or f.ended]
    if not mine:
        return 0  # nothing new: no transaction
    rows = [r for f in mine for r in f.pending]
    try:
        with session(write=True) as s:
            live_levels.add(s, rows)
            for f in mine:
                if f.ended:
                    live_levels.drop(s, f.call_id)
    except (SQLAlchemyError, CallqcError) as exc:
        log.warning("levels: %d row(s) not written, kept for the next pass: %s", len(rows),
                    str(exc).splitlines()[0][:200])
        return 0
    for f in mine:
        f.pending = []
    with _lock:
        for f in mine:
            if f.ended:
                _followed.pop(f.call_id, None)
    return len(rows)


def ensure_writing() -> None:
    """Run the passes in this event loop (the recording server's) while any call is followed; called
    by the servers after they open a call. The task ends when no call is left and starts again with
    the next one, so nothing writes outside a server's life."""
    global _task
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_passes())


async def _passes() -> None:
    while True:
        await asyncio.sleep(PASS_S)
        with _lock:
            if not _followed:
                return
        try:
            await asyncio.to_thread(write_once)
        except Exception:  # noqa: BLE001 - the passes must outlive one bad pass (a journal cut short)
            log.exception("levels: pass failed")
