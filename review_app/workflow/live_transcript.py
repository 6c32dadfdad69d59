"""Live transcript: a call in progress transcribed per speaker in short windows while someone watches it.

Where it runs: in the review app's process, on the recorder host (it reads the live audio tap, which
is local disk: recorder/siprec/journal.py), and only for calls someone has open on the Live now or
call page (``CALLQC_LIVE_TRANSCRIPT``; off: no live transcript). :func:`follow` starts one thread
per call, once per process; the thread ends when the call does. Transcriptions of all followed
calls take turns on this process's one model (transcribe.engine.get_transcriber), so watching more
calls makes each transcript later rather than the machine slower.

How: each speaker's samples (8 kHz from the tap) are gathered; once ``WINDOW_S`` of audio is there,
the window is cut at its quietest moment near the end (so no word is cut in two), upsampled to
16 kHz and transcribed with the voice-activity filter; the segments are stored
(storage/live_segments.py) with times in seconds of the call, the rest waits for the next window.
A window with no sound above ``QUIET`` is not transcribed at all. When the call ends the remainder
is transcribed. Following starts where the call is when someone opens it (what was said before is in
the full transcript after the call): the live edge is never behind a backlog. The full-quality
transcript made after the call replaces this one on the pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recorder.media import journal_end
from recorder.siprec.journal import Tap, TapChunk
from storage.db import session
from storage.live_segments import LiveSegment, add
from storage.settings import get_settings
from transcribe.audio import quietest_cut
from transcribe.engine import get_transcriber

log = logging.getLogger(__name__)
RATE = 8000
WINDOW_S = 4.0
CUT_SEARCH_S = 1.0  # the cut falls in the last second of a window
QUIET = 200  # peak below this (16-bit): nothing said
POLL_S = 0.25
CHANNEL = {"agent": 0, "customer": 1}
_model_turn = threading.Lock()  # one transcription at a time in this process
_following: dict[str, threading.Thread] = {}
_registry = threading.Lock()

Transcribe = Callable[[np.ndarray, float, str, int], list[LiveSegment]]


class SpeakerBuffer:
    """One speaker's samples not yet transcribed, from sample position ``start`` on (gaps are silence)."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.samples = np.zeros(0, dtype=np.int16)

    def put(self, chunk: TapChunk) -> None:
        data = np.asarray(chunk.samples, dtype=np.int16)
        if self.start is None:
            self.start = chunk.position
        at = chunk.position - self.start
        if at + len(data) <= 0:
            return  # already transcribed: a late packet
        if at < 0:
            data, at = data[-at:], 0
        end = at + len(data)
        if end > len(self.samples):
            self.samples = np.concatenate([self.samples, np.zeros(end - len(self.samples), dtype=np.int16)])
        self.samples[at:end] = data

    def take(self, *, final: bool) -> tuple[np.ndarray, int] | None:
        """The next window to transcribe and its first sample position, or None while too short."""
        if self.start is None or not len(self.samples):
            return None
        if len(self.samples) < WINDOW_S * RATE and not final:
            return None
        search = int(CUT_SEARCH_S * RATE)
        cut = len(self.samples) if final else quietest_cut(
            self.samples[None, :], len(self.samples) - search, search=search)
        cut = max(1, min(cut, len(self.samples)))
        window, start = self.samples[:cut], self.start
        self.samples, self.start = self.samples[cut:], self.start + cut
        return window, start


def upsample(samples: np.ndarray) -> np.ndarray:
    """8 kHz → 16 kHz by linear interpolation (the model's rate)."""
    n = len(samples)
    return np.interp(np.arange(2 * n) / 2, np.arange(n), samples.astype(np.float32)).astype(np.int16)


def model_transcribe(samples: np.ndarray, offset_s: float, speaker: str, channel: int) -> list[LiveSegment]:
    transcriber = get_transcriber()
    with _model_turn:
        segs, _held = transcriber.transcribe_window(upsample(samples), offset_s=offset_s, speaker=speaker,
                                                    channel=channel, language=None)
    return [LiveSegment(call_id="", speaker=s.speaker, channel=channel, start_s=s.start, end_s=s.end,
                        text=s.text) for s in segs if s.text.strip()]


class LiveTranscriber:
    """Follows one call's tap and stores its live transcript; :meth:`step` is one pass, :meth:`run` all."""

    def __init__(self, tap: Tap, call_id: str, *, transcribe: Transcribe = model_transcribe) -> None:
        self.tap, self.call_id, self.transcribe = tap, call_id, transcribe
        self.buffers: dict[str, SpeakerBuffer] = {}
        # from where the call is now: the live edge first, not a backlog of what was said before watching
        tap.seek(journal_end(tap))

    def step(self, *, final: bool = False) -> list[LiveSegment]:
        for chunk in self.tap.read():
            self.buffers.setdefault(chunk.role, SpeakerBuffer()).put(chunk)
        out: list[LiveSegment] = []
        for role, buf in sorted(self.buffers.items()):
            while (got := buf.take(final=final)) is not None:
                window, start = got
                if int(np.abs(window.astype(np.int32)).max(initial=0)) >= QUIET:
                    out += self.transcribe(window, start / RATE, role, CHANNEL.get(role, 2))
                if final:
                    break
        for seg in out:
            seg.call_id = self.call_id
        if out:
            with session(write=True) as s:
                add(s, out)
        return out

    def run(self) -> None:
        while self.tap.live:
            self.step()
            time.sleep(POLL_S)
        self.step(final=True)


def follow(call_id: str, *, data_dir: Path | None = None) -> bool:
    """Start transcribing ``call_id`` live in this process unless already done or off; False when the
    call's journal is not on this host (or live transcripts are off)."""
    settings = get_settings()
    if not settings.live_transcript:
        return False
    with _registry:
        running = _following.get(call_id)
        if running is not None and running.is_alive():
            return True
        try:
            tap = Tap(data_dir or Path(settings.data_dir), call_id)
        except FileNotFoundError:
            return False
        worker = LiveTranscriber(tap, call_id)

        def run() -> None:
            try:
                worker.run()
            except Exception:  # noqa: BLE001 - a failed live transcript must not take the app with it
                log.exception("live transcript of %s stopped", call_id)
            finally:
                with _registry:
                    _following.pop(call_id, None)

        thread = threading.Thread(target=run, name=f"live-transcript-{call_id}", daemon=True)
        _following[call_id] = thread
        thread.start()
        return True
