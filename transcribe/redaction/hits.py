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
    start: float
    end: float
    digits: int  # how many digits (0 for e-mail)
    rule: str  # which test matched: "luhn", "check-digit", "pattern", "cue", "long", "partial", "written", "spoken"
    refs: tuple[WordRef, ...]
