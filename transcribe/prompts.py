"""Known prompts in a call: found by fingerprint, given their stored text, never sent to Whisper.

:class:`PromptBook` holds the fingerprints of every known prompt (storage/prompts.py), loaded once
per worker process and again only when prompts are added or removed. For each window of a call,
:meth:`PromptBook.playing` looks for every prompt in every channel (a coarse 64 ms pass over the
window, the fine fingerprint only where it may play: :func:`~transcribe.fingerprint.search`); where
one plays, a ``system`` segment with the prompt's stored text takes its place and Whisper never
hears it: the engine cuts its samples out of the speech spans before they are packed into chunks
(``exact_chunks``: Silero still hears the prompt, so the spans around it are bare faster-whisper's),
or silences them before voice detection (:meth:`PromptBook.cut`; also what the language detector
reads). A prompt cut in two by a window boundary is not found and is transcribed as usual.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.prompts import Prompt, all_prompts
from storage.segments import SYSTEM_SPEAKER, Segment, Word
from transcribe.audio import SAMPLE_RATE, AudioWindow
from transcribe.fingerprint import Fingerprint, Hit, coarse, coarse_of, search

SAME_PLAYING_S = 0.5  # the same prompt starting this close on two channels is one playing


@dataclass(frozen=True)
class KnownPrompt:
    name: str
    text: str
    fingerprint: Fingerprint

    @cached_property
    def pattern(self) -> np.ndarray:
        """The coarse pattern the first pass looks for (:func:`~transcribe.fingerprint.coarse_of`)."""
        return coarse_of(self.fingerprint)


@dataclass(frozen=True)
class PromptBook:
    prompts: tuple[KnownPrompt, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.prompts)

    def heard(self, samples: np.ndarray) -> list[tuple[KnownPrompt, Hit]]:
        """The prompts playing in ``samples`` (one channel), in time order, none overlapping."""
        if not self.prompts:
            return []
        rough = coarse(samples)
        found = [(p, h) for p in self.prompts for h in search(p.fingerprint, p.pattern, samples, rough)]
        kept: list[tuple[KnownPrompt, Hit]] = []
        # best first: where two prompts overlap (one contains the other) the better match wins
        for p, h in sorted(found, key=lambda ph: -ph[1].correlation):
            if all(h.end_s <= k.start_s or h.start_s >= k.end_s for _, k in kept):
                kept.append((p, h))
        return sorted(kept, key=lambda ph: ph[1].start_s)

    def playing(self, window: AudioWindow, speakers: dict[int, str]) -> dict[int, list[tuple[KnownPrompt, Hit]]]:
        """Channel → the known prompts playing in it in ``window`` (times from the window's start)."""
        if not self.prompts:
            return {}
        return {ch: heard for ch, samples in enumerate(window.channels) if ch in speakers
                and (heard := self.heard(samples))}

    def cut(self, window: AudioWindow, speakers: dict[int, str],
            playing: dict[int, list[tuple[KnownPrompt, Hit]]] | None = None) -> tuple[AudioWindow, list[Segment]]:
        """``window`` with every known prompt silenced, and a ``system`` segment for each one
        (``playing``: what :meth:`playing` found in it, if already known)."""
        if playing is None:
            playing = self.playing(window, speakers)
        if not playing:
            return window, []
        channels: list[np.ndarray] = []
        segments: list[Segment] = []
        for ch, samples in enumerate(window.channels):
            heard = playing.get(ch, [])
            if heard:
                samples = samples.copy()
            for p, h in heard:
                a, b = int(h.start_s * SAMPLE_RATE), int(h.end_s * SAMPLE_RATE)
                samples[a:b] = 0
                start = round(window.offset_s + h.start_s, 3)
                if any(s.text == p.text.strip() and abs(s.start - start) < SAME_PLAYING_S for s in segments):
                    continue  # one playing mixed into both channels: silenced in each, said once
                end = round(window.offset_s + min(h.end_s, len(samples) / SAMPLE_RATE), 3)
                segments.append(system_segment(p.text, start=start, end=end, channel=ch))
            channels.append(samples)
        return AudioWindow(window.start, channels), segments


    def take(self, window: AudioWindow, speakers: dict[int, str]) -> tuple[AudioWindow, list[Segment], Said | None]:
        """:meth:`cut`, and what was cut (None: no known prompt plays in ``window``)."""
        playing = self.playing(window, speakers)
        if not playing:
            return window, [], None
        silenced, segments = self.cut(window, speakers, playing)
        ranges = {ch: [(window.start + round(h.start_s * SAMPLE_RATE),
                        window.start + min(round(h.end_s * SAMPLE_RATE), window.samples)) for _p, h in heard]
                  for ch, heard in playing.items()}
        return silenced, segments, Said(window, ranges)


@dataclass(frozen=True)
class Said:
    """A window as it was before its known prompts were silenced, and where they play: [start, end)
    samples from the call's start, per channel."""

    window: AudioWindow
    ranges: dict[int, list[tuple[int, int]]]


def system_segment(text: str, *, start: float, end: float, channel: int) -> Segment:
    """A prompt's stored text as a segment, its words spread over the span by length (for evidence
    times and redaction)."""
    tokens = text.split()
    total = sum(len(t) + 1 for t in tokens) or 1
    words, at = [], start
    for t in tokens:
        step = (end - start) * (len(t) + 1) / total
        words.append(Word(round(at, 3), round(at + step, 3), " " + t, 1.0))
        at += step
    return Segment(speaker=SYSTEM_SPEAKER, channel=channel, start=start, end=end, text=text.strip(), words=words)


def _book_of(prompts: list[Prompt]) -> PromptBook:
    return PromptBook(tuple(KnownPrompt(p.name, p.text, Fingerprint.from_bytes(p.fingerprint)) for p in prompts))


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], PromptBook] | None = None


def prompt_book(session: Session) -> PromptBook:
    """Every known prompt's fingerprint: read again only when prompts were added or removed."""
    global _cached
    row = session.exec(select(sa.func.count(col(Prompt.id)), sa.func.max(col(Prompt.id)),
                              sa.func.max(col(Prompt.created_at)))).one()
    version = (str(session.get_bind().engine.url), int(row[0] or 0), int(row[1] or 0), row[2])
    with _lock:
        if _cached is None or _cached[0] != version:
            _cached = (version, _book_of(all_prompts(session)) if version[1] else PromptBook())
        return _cached[1]
