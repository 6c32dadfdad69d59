"""Evidence: the moments of a call that decided an answer, so the review app can play exactly them.

``match``: segments that contain what was looked for (speaker, start, end, quote).
``searched``: for an answer decided by an absence, the span that was searched (and found nothing).
``span``: a measured stretch (a silence, an overtalk, a hold), with quotes where speech is involved.
``unsure``: low-confidence speech that kept a check from deciding.
Times are seconds from the start of the call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from scoring.conversation import Segment


class EvidenceKind(StrEnum):
    match = "match"
    searched = "searched"
    span = "span"
    unsure = "unsure"


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    start: float
    end: float
    speaker: str | None = None
    quote: str | None = None
    segment: int | None = None  # index into the call's time-ordered segments
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Evidence:
        return cls(**{**d, "kind": EvidenceKind(d["kind"])})


def of_segment(
    seg: Segment, idx: int | None, *, kind: EvidenceKind = EvidenceKind.match, start: float | None = None,
    end: float | None = None, note: str | None = None,
) -> Evidence:
    """Evidence quoting ``seg`` (optionally narrowed to the matched words' times)."""
    return Evidence(
        kind=kind, start=seg.start if start is None else start, end=seg.end if end is None else end,
        speaker=seg.speaker, quote=seg.text.strip(), segment=idx, note=note,
    )


def searched(speaker: str | None, start: float, end: float, note: str | None = None) -> Evidence:
    """The span searched for something that was not there."""
    return Evidence(kind=EvidenceKind.searched, start=start, end=end, speaker=speaker, note=note)


def span(start: float, end: float, note: str | None = None) -> Evidence:
    return Evidence(kind=EvidenceKind.span, start=start, end=end, note=note)
