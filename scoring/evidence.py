"""Evidence: the moments of a call that decided an answer, so the review app can play exactly them.

``match``: segments that contain what was looked for (speaker, start, end, quote).
``searched``: for an answer decided by an absence, the span that was searched (and found nothing).
``span``: a measured stretch (a silence, an overtalk, a hold), with quotes where speech is involved.
``unsure``: low-confidence speech that kept a check from deciding.
Times are seconds from the start of the call.
"""

from __future__ import annotations

from storage.evaluations import Evidence, EvidenceKind
from storage.segments import Segment


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
