"""A call's speech as the pipeline passes it along: words and segments (one type each, for every
layer), and the one text form of a conversation.

The transcriber produces :class:`Segment` values, ``storage/transcripts.py`` stores and loads them,
scoring judges them and the review app shows them. Speakers are ``agent``, ``customer``,
``unknown`` (a mono recording without attribution) or ``system``: a known recorded prompt (an IVR
greeting, a queue announcement) heard in the call, its text reused from the prompt's record
(transcribe/prompts.py). Nobody said ``system`` speech: scoring never counts it as anyone's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Speaker(StrEnum):
    agent = "agent"
    customer = "customer"
    unknown = "unknown"
    system = "system"  # a known prompt playing (not a person)


UNKNOWN_SPEAKER = Speaker.unknown.value
SYSTEM_SPEAKER = Speaker.system.value


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str  # as Whisper writes it: Latin words carry their leading space, Chinese none
    probability: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Segment:
    speaker: str
    start: float
    end: float
    text: str
    words: Sequence[Word] = ()
    channel: int | None = None  # None: not from one channel (tests, built conversations)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def words_from_json(raw: Iterable[Any] | None) -> tuple[Word, ...]:
    """Stored words (dicts) back to :class:`Word` values; a malformed word loses its timing, not the segment."""
    out = []
    for w in raw or []:
        try:
            out.append(Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w.get("probability", 1.0))))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return tuple(out)


def fmt_time(seconds: float) -> str:
    """``mm:ss.s`` (``h:mm:ss.s`` past an hour)."""
    tenths = int(round(max(seconds, 0.0) * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    s = rest / 10
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def format_line(speaker: str, start: float, end: float, text: str) -> str:
    """One line of a conversation: ``[00:01.2–00:03.4] agent: text``."""
    return f"[{fmt_time(start)}–{fmt_time(end)}] {speaker}: {text}"


def format_lines(segments: Iterable[Segment]) -> list[str]:
    """The conversation as lines, one :func:`format_line` per segment."""
    return [format_line(s.speaker, s.start, s.end, s.text) for s in segments]
