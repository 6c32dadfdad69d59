"""What scoring reads: a call's segments (``storage.segments.Segment``) and facts, as a
:class:`Conversation`; :func:`load_conversation` builds one from what ``storage/transcripts.py`` stored.
Tests build conversations directly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from storage import pauses
from storage.calls import Call
from storage.errors import CallqcError
from storage.segments import Segment, Speaker
from storage.transcripts import Transcript, segments


@dataclass(frozen=True)
class CallFacts:
    """The call's metadata a rubric's N/A conditions and checks may read."""

    direction: str = "unknown"
    queue: str | None = None
    duration_s: float = 0.0
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Speakers that have a channel of their own ({"agent", "customer"} for stereo); empty = unknown,
    # in which case the speakers present in the segments are taken as the channels.
    channels: frozenset[str] = frozenset()
    # PCI pauses of a live call: [start, end) seconds of the recording that hold silence written in
    # place of the conversation (storage/pauses.py). Not dead air: metrics leave them out.
    paused: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Conversation:
    segments: tuple[Segment, ...]
    facts: CallFacts = field(default_factory=CallFacts)

    @classmethod
    def build(cls, segments: Iterable[Segment], facts: CallFacts | None = None) -> Conversation:
        # the transcriber's order (transcribe/conversation.py), so evidence's ``segment`` index is the
        # stored segment's ``idx``
        order = sorted(segments, key=lambda s: (s.start, -1 if s.channel is None else s.channel, s.end))
        return cls(tuple(order), facts or CallFacts())

    @property
    def duration(self) -> float:
        last = max((s.end for s in self.segments), default=0.0)
        return max(self.facts.duration_s, last)

    @property
    def channels(self) -> frozenset[str]:
        if self.facts.channels:
            return self.facts.channels
        return frozenset(s.speaker for s in self.segments)

    def of(self, speaker: str | None) -> list[Segment]:
        """Segments of ``speaker`` (None or ``any``: everyone's)."""
        if speaker in (None, "any"):
            return list(self.segments)
        return [s for s in self.segments if s.speaker == speaker]

    @property
    def is_stereo(self) -> bool:
        return {Speaker.agent.value, Speaker.customer.value} <= self.channels


def is_cjk(ch: str) -> bool:
    """A character written without spaces between words (Chinese, Japanese kana, Korean syllables)."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2A6DF
        or 0xF900 <= o <= 0xFAFF or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF
    )


def units(text: str) -> list[str]:
    """Text as matching units: one per CJK character, one per Latin/digit word; punctuation dropped."""
    out: list[str] = []
    word: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if is_cjk(ch):
            if word:
                out.append("".join(word))
                word = []
            out.append(ch)
        elif ch.isalnum() or (ch == "'" and word):
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return [u.strip("'") for u in out if u.strip("'")]


def join_units(parts: Iterable[str]) -> str:
    """Units back to text: a space only between two Latin units (Chinese has none)."""
    text = ""
    prev_latin = False
    for u in parts:
        latin = not is_cjk(u[0])
        if text and latin and prev_latin:
            text += " "
        text += u
        prev_latin = latin
    return text


def count_units(text: str) -> tuple[int, int]:
    """(Latin/digit words, CJK characters) in ``text``."""
    us = units(text)
    cjk = sum(1 for u in us if is_cjk(u[0]))
    return len(us) - cjk, cjk


class TranscriptNotReady(CallqcError):
    """call has no transcript yet"""


def load_conversation(session: Session, call: Call) -> Conversation:
    """The call's stored segments and facts as a :class:`Conversation` (TranscriptNotReady if none)."""
    if session.get(Transcript, call.call_id) is None:
        raise TranscriptNotReady(call.call_id)
    segs = segments(session, call.call_id)
    channels = frozenset(call.channel_map or {}) or frozenset(s.speaker for s in segs)
    facts = CallFacts(direction=str(call.direction), queue=call.queue, duration_s=call.duration_s,
                      meta=dict(call.meta or {}), channels=channels,
                      paused=tuple(pauses.in_recording(session, call)))
    return Conversation.build(segs, facts)
