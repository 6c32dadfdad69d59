"""What was redacted in a call, the original text kept apart, and the redacted audio copy.

The ``segments`` table holds the redacted text that everyone reads (scoring, the review app, the
archive). When the ``redaction_keep_original`` setting is on, the original text and words of each
changed segment sit in ``transcript_originals``, read only through :mod:`storage.access` by
people with the ``pii`` permission. ``redactions`` lists each hit (type, speaker, time span,
digit count — never the value); ``call_redactions`` says that a call was checked, when, and which
object holds its redacted audio (none when nothing was found: the original is then safe to play).
A call's rows are replaced as a whole, in the caller's transaction, so redacting twice leaves one copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, utcnow
from storage.segments import Segment, Word, words_from_json


class TranscriptOriginal(SQLModel, table=True):
    """The original text and words of one redacted segment (``pii`` only)."""

    __tablename__ = "transcript_originals"

    call_id: str = Field(primary_key=True, foreign_key="calls.call_id", max_length=128)
    idx: int = Field(primary_key=True)  # the segment's idx in ``segments``
    text: str = Field(sa_type=sa.Text)
    words: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Redaction(SQLModel, table=True):
    """One hit: what kind of data, who said it, when. Never the value."""

    __tablename__ = "redactions"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    kind: str = Field(max_length=16)  # transcribe.redaction.rules.Kind value
    speaker: str = Field(max_length=32)
    channel: int | None = None
    start_s: float
    end_s: float
    digits: int = 0
    rule: str = Field(max_length=16)  # which test: luhn, check-digit, pattern, cue, long, partial, written, spoken


class CallRedaction(SQLModel, table=True):
    """A call was checked for personal data; its redacted audio object, if it needed one."""

    __tablename__ = "call_redactions"

    call_id: str = Field(primary_key=True, foreign_key="calls.call_id", max_length=128)
    hits: int = 0
    audio_key: str | None = Field(default=None, max_length=512)  # None: nothing to cut, the original is clean
    audio_sha256: str | None = Field(default=None, max_length=64)
    audio_size: int | None = Field(default=None, sa_type=sa.BigInteger)
    original_kept: bool = False
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))


@dataclass(frozen=True)
class Span:
    kind: str
    speaker: str
    channel: int | None
    start: float
    end: float
    digits: int
    rule: str


@dataclass(frozen=True)
class AudioCopy:
    key: str
    sha256: str
    size: int


def _words_json(words: Sequence[Word]) -> list[dict[str, Any]]:
    return [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability} for w in words]


def replace_redaction(
    session: Session,
    call_id: str,
    spans: Sequence[Span],
    *,
    originals: dict[int, Segment] | None,
    audio: AudioCopy | None,
) -> None:
    """Record the call's redaction (inside the caller's transaction); ``originals`` maps segment idx
    to its original segment, None when originals are not kept."""
    for table in (TranscriptOriginal, Redaction, CallRedaction):
        session.execute(sa.delete(table).where(col(table.call_id) == call_id))
    for idx, seg in sorted((originals or {}).items()):
        session.add(TranscriptOriginal(call_id=call_id, idx=idx, text=seg.text, words=_words_json(seg.words)))
    for sp in spans:
        session.add(Redaction(call_id=call_id, kind=sp.kind, speaker=sp.speaker, channel=sp.channel,
                              start_s=round(sp.start, 3), end_s=round(sp.end, 3), digits=sp.digits, rule=sp.rule))
    session.add(CallRedaction(call_id=call_id, hits=len(spans), audio_key=audio.key if audio else None,
                              audio_sha256=audio.sha256 if audio else None, audio_size=audio.size if audio else None,
                              original_kept=originals is not None))
    session.flush()


def redaction_of(session: Session, call_id: str) -> CallRedaction | None:
    return session.get(CallRedaction, call_id)


def spans_of(session: Session, call_id: str) -> list[Redaction]:
    return list(session.exec(select(Redaction).where(Redaction.call_id == call_id)
                             .order_by(col(Redaction.start_s), col(Redaction.id))))


def originals_of(session: Session, call_id: str) -> dict[int, TranscriptOriginal]:
    rows = session.exec(select(TranscriptOriginal).where(TranscriptOriginal.call_id == call_id))
    return {r.idx: r for r in rows}


def original_words(row: TranscriptOriginal) -> tuple[Word, ...]:
    return words_from_json(row.words)


def with_originals(session: Session, doc: dict[str, Any]) -> int:
    """Put the kept original text and words into a transcript_json ``doc`` (in place); segments changed.
    Callers check ``pii`` (or are the operator) and audit."""
    kept = originals_of(session, doc["call_id"])
    for seg in doc["segments"]:
        o = kept.get(seg["idx"])
        if o is not None:
            seg["text"], seg["words"] = o.text, o.words
    doc["original"] = True
    return len(kept)


def redactions_json(session: Session, call_id: str) -> dict[str, Any] | None:
    """What was redacted in the call (type, speaker, span, digit count; never the value), or None
    if the call was never checked."""
    head = redaction_of(session, call_id)
    if head is None:
        return None
    return {
        "checked_at": head.at.isoformat(),
        "hits": head.hits,
        "audio": "redacted copy" if head.audio_key else (
            "missing: run `callqc redact`" if head.hits else "original (nothing to cut)"),
        "original_text_kept": head.original_kept,
        "spans": [{"kind": r.kind, "speaker": r.speaker, "channel": r.channel, "start": r.start_s,
                   "end": r.end_s, "digits": r.digits, "rule": r.rule} for r in spans_of(session, call_id)],
    }


def counts_by_day(session: Session, *, days: int = 30) -> list[tuple[str, str, int]]:
    """(day, kind, hits) of the newest ``days`` days with redactions, by the day the call was checked."""
    day = sa.func.substr(sa.cast(col(CallRedaction.at), sa.String), 1, 10)
    stmt = (select(day, col(Redaction.kind), sa.func.count())
            .join(CallRedaction, col(CallRedaction.call_id) == col(Redaction.call_id))
            .group_by(day, col(Redaction.kind)).order_by(day.desc(), col(Redaction.kind)))
    rows = [(str(d), str(k), int(n)) for d, k, n in session.exec(stmt)]
    keep = sorted({d for d, _, _ in rows}, reverse=True)[:days]
    return [r for r in rows if r[0] in keep]
