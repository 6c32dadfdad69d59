"""A personal-data hit and the characters of the transcript it covers (values, no logic)."""

from __future__ import annotations

from dataclasses import dataclass

from transcribe.redaction.rules import Kind


@dataclass(frozen=True)
class WordRef:
    """Characters ``lo:hi`` of word ``word`` of segment ``seg`` (word -1: the segment's text)."""

    seg: int
    word: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Hit:
    kind: Kind
    speaker: str
    channel: int | None
    start: float  # where the number's spoken words start (see first_digit)
    end: float
    digits: int  # how many digits (0 for e-mail)
    rule: str  # which test matched: "luhn", "check-digit", "pattern", "cue", "long", "partial", "written", "spoken"
    refs: tuple[WordRef, ...]
    # where the first written digit starts, when ``start`` was moved back over words said before it
    # that the ASR did not write as digits ("I want to die in six" for "four one two six"): ``start``
    # and ``end`` are what the audio copy cuts
    first_digit: float | None = None
