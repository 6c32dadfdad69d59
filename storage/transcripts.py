"""Transcripts and their segments: one transcript per call, segments searchable by text.

A call's transcript is replaced as a whole (delete + insert in the caller's transaction), so a
transcription job that runs twice leaves exactly one copy. :func:`transcript_json` is the stable
shape the CLI (`callqc show`), the review app and scoring read; see docs/transcription.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.calls import Call
from storage.models import UTCDateTime, utcnow
from storage.segments import Segment, format_lines, words_from_json

SCHEMA_VERSION = 1  # of transcript_json's shape


class TranscriptBase(SQLModel):
    call_id: str = Field(primary_key=True, foreign_key="calls.call_id", max_length=128)
    language: str | None = Field(default=None, max_length=16)  # None: nothing was said
    language_probability: float = 0.0
    model_name: str = Field(max_length=256)
    model_version: str = Field(max_length=256)
    model_source: str = Field(max_length=16)  # transcribe.models.ModelSource value
    compute: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    duration_s: float = 0.0
    mono: bool = False  # mono recording: speakers are "unknown"
    word_count: int = 0
    # Music on hold and tones the transcriber found, never transcribed: {"kind": "hold"|"tone",
    # "channel", "start", "end", "label"} (transcribe/nonspeech.py); neither talk nor dead air.
    nonspeech: list[dict[str, Any]] = Field(default_factory=list,
                                            sa_column=Column(JSON, nullable=False, server_default="[]"))


def started_at_column() -> Any:
    """The call's ``started_at``, copied onto its transcript rows: the month partition key on PostgreSQL
    (storage/partitions.py). Left empty, it is filled from the call when the row is flushed."""
    return Field(default=None, sa_column=Column("call_started_at", UTCDateTime(), nullable=False))


class Transcript(TranscriptBase, table=True):
    __tablename__ = "transcripts"

    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    call_started_at: datetime | None = started_at_column()


class TranscriptPublic(TranscriptBase):
    created_at: datetime


class TranscriptSegmentBase(SQLModel):
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    idx: int  # position in the time-ordered conversation
    speaker: str = Field(max_length=32, index=True)  # agent / customer / unknown / ch<N>
    channel: int
    start_s: float
    end_s: float
    text: str = Field(sa_type=sa.Text)
    words: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    avg_logprob: float
    no_speech_prob: float


class TranscriptSegment(TranscriptSegmentBase, table=True):
    __tablename__ = "segments"
    __table_args__ = (
        # the partition key is part of every unique key of a partitioned table; a call has one start
        sa.UniqueConstraint("call_id", "idx", "call_started_at", name="uq_segments_call_idx"),
        sa.Index("ix_segments_text_trgm", "text", postgresql_using="gin",
                 postgresql_ops={"text": "gin_trgm_ops"}),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_started_at: datetime | None = started_at_column()


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _fill_call_started_at(session: sa.orm.Session, _context: Any, _instances: Any) -> None:
    """New transcript and segment rows get their call's start (one query per flush)."""
    rows = [o for o in session.new if isinstance(o, Transcript | TranscriptSegment) and o.call_started_at is None]
    if not rows:
        return
    # a call added in the same flush is not in the table yet
    starts = {o.call_id: o.started_at for o in session.new if isinstance(o, Call)}
    ids = {r.call_id for r in rows} - set(starts)
    if ids:
        found = session.connection().execute(sa.select(col(Call.call_id), col(Call.started_at))
                                             .where(col(Call.call_id).in_(ids)))
        starts.update((cid, started) for cid, started in found)
    for r in rows:
        r.call_started_at = starts.get(r.call_id)


class TranscriptSegmentPublic(TranscriptSegmentBase):
    id: int


def replace_transcript(session: Session, transcript: TranscriptBase, segments: Sequence[Segment]) -> int:
    """Store ``transcript`` and its ``segments`` as the call's only transcript (inside the caller's
    transaction); the segment count."""
    call_id = transcript.call_id
    session.execute(sa.delete(TranscriptSegment).where(col(TranscriptSegment.call_id) == call_id))
    session.execute(sa.delete(Transcript).where(col(Transcript.call_id) == call_id))
    session.add(Transcript(**transcript.model_dump()))
    for i, seg in enumerate(segments):
        session.add(TranscriptSegment(
            call_id=call_id, idx=i, speaker=seg.speaker, channel=seg.channel or 0, start_s=seg.start,
            end_s=seg.end, text=seg.text,
            words=[{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                   for w in seg.words],
            avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
        ))
    session.flush()
    return len(segments)


def replace_segment_texts(session: Session, call_id: str, texts: dict[int, Segment]) -> int:
    """Set the text and words of the call's segments by idx (redaction re-runs); rows changed."""
    n = 0
    for row in segments_of(session, call_id):
        seg = texts.get(row.idx)
        if seg is None:
            continue
        words = [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability} for w in seg.words]
        if row.text != seg.text or row.words != words:
            row.text, row.words = seg.text, words
            session.add(row)
            n += 1
    session.flush()
    return n


def segments_of(session: Session, call_id: str) -> list[TranscriptSegment]:
    """The call's segment rows in conversation order.

    On PostgreSQL joined to the call on its start as well, so only that month's partition is read
    (run-time partition pruning) instead of every month's index being probed."""
    return list(session.exec(_in_order(session, select(TranscriptSegment), call_id)))


def _in_order(session: Session, q: Any, call_id: str) -> Any:
    seg = TranscriptSegment
    if session.get_bind().dialect.name != "postgresql":
        return q.where(seg.call_id == call_id).order_by(col(seg.idx))
    on_start = sa.and_(col(Call.call_id) == col(seg.call_id), col(Call.started_at) == col(seg.call_started_at))
    return q.join(Call, on_start).where(col(Call.call_id) == call_id).order_by(col(seg.idx))


def as_segment(row: TranscriptSegment) -> Segment:
    return Segment(speaker=row.speaker, channel=row.channel, start=row.start_s, end=row.end_s, text=row.text or "",
                   words=words_from_json(row.words), avg_logprob=row.avg_logprob,
                   no_speech_prob=row.no_speech_prob)


def segments(session: Session, call_id: str, *, words: bool = True) -> list[Segment]:
    """The call's segments in conversation order, as :class:`~storage.segments.Segment` values;
    ``words=False`` leaves each segment's words out (their JSON is most of a transcript's bytes)."""
    if words:
        return [as_segment(r) for r in segments_of(session, call_id)]
    seg = TranscriptSegment
    q = sa.select(col(seg.speaker), col(seg.channel), col(seg.start_s), col(seg.end_s), col(seg.text),
                  col(seg.avg_logprob), col(seg.no_speech_prob))
    return [Segment(speaker=r.speaker, channel=r.channel, start=r.start_s, end=r.end_s, text=r.text or "",
                    avg_logprob=r.avg_logprob, no_speech_prob=r.no_speech_prob)
            for r in session.execute(_in_order(session, q, call_id))]


def transcript_json(session: Session, call_id: str) -> dict[str, Any] | None:
    """The call's transcript in the documented stable shape, or None if it has none yet."""
    t = session.get(Transcript, call_id)
    if t is None:
        return None
    return {
        "schema": SCHEMA_VERSION,
        "call_id": t.call_id,
        "language": t.language,
        "language_probability": t.language_probability,
        "model": {"name": t.model_name, "version": t.model_version, "source": t.model_source},
        "compute": t.compute,
        "duration_s": t.duration_s,
        "mono": t.mono,
        "word_count": t.word_count,
        "nonspeech": list(t.nonspeech or []),
        "created_at": t.created_at.isoformat(),
        "segments": [
            {"idx": s.idx, "speaker": s.speaker, "channel": s.channel, "start": s.start_s, "end": s.end_s,
             "text": s.text, "words": s.words, "avg_logprob": s.avg_logprob,
             "no_speech_prob": s.no_speech_prob}
            for s in segments_of(session, call_id)
        ],
    }


def conversation_lines(session: Session, call_id: str) -> list[str] | None:
    """The conversation as ``[00:01.2–00:03.4] agent: text`` lines, or None without a transcript."""
    if session.get(Transcript, call_id) is None:
        return None
    return format_lines(segments(session, call_id))


def search_segments(session: Session, text: str, *, limit: int = 100) -> list[TranscriptSegment]:
    """Segments containing ``text`` (case-insensitive; a trigram index serves this on PostgreSQL)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = (select(TranscriptSegment).where(col(TranscriptSegment.text).ilike(pattern, escape="\\"))
            .order_by(col(TranscriptSegment.call_id), col(TranscriptSegment.idx)).limit(limit))
    return list(session.exec(stmt))
