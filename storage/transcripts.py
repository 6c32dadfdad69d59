"""Transcripts and their segments: one transcript per call, segments searchable by text.

A call's transcript is replaced as a whole (delete + insert in the caller's transaction), so a
transcription job that runs twice leaves exactly one copy. :func:`transcript_json` is the stable
shape the CLI (`callqc show`), the review app and scoring read; see docs/transcription.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, utcnow

if TYPE_CHECKING:
    from transcribe.engine import Transcript as EngineTranscript

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


class Transcript(TranscriptBase, table=True):
    __tablename__ = "transcripts"

    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


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
        sa.UniqueConstraint("call_id", "idx", name="uq_segments_call_idx"),
        sa.Index("ix_segments_text_trgm", "text", postgresql_using="gin",
                 postgresql_ops={"text": "gin_trgm_ops"}),
    )

    id: int | None = Field(default=None, primary_key=True)


class TranscriptSegmentPublic(TranscriptSegmentBase):
    id: int


def replace_transcript(session: Session, call_id: str, transcript: EngineTranscript) -> int:
    """Store ``transcript`` as the call's only transcript (inside the caller's transaction); segment count."""
    session.execute(sa.delete(TranscriptSegment).where(col(TranscriptSegment.call_id) == call_id))
    session.execute(sa.delete(Transcript).where(col(Transcript.call_id) == call_id))
    session.add(Transcript(
        call_id=call_id, language=transcript.language, language_probability=transcript.language_probability,
        model_name=transcript.model.name, model_version=transcript.model.version,
        model_source=str(transcript.model.source), compute=transcript.compute.as_dict(),
        duration_s=round(transcript.duration_s, 3), mono=transcript.mono, word_count=transcript.words,
    ))
    for i, seg in enumerate(transcript.segments):
        session.add(TranscriptSegment(
            call_id=call_id, idx=i, speaker=seg.speaker, channel=seg.channel, start_s=seg.start,
            end_s=seg.end, text=seg.text,
            words=[{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                   for w in seg.words],
            avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
        ))
    session.flush()
    return len(transcript.segments)


def segments_of(session: Session, call_id: str) -> list[TranscriptSegment]:
    """The call's segments in conversation order."""
    return list(session.exec(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)
                             .order_by(col(TranscriptSegment.idx))))


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
    from transcribe.conversation import format_lines

    data = transcript_json(session, call_id)
    return None if data is None else format_lines(data["segments"])


def search_segments(session: Session, text: str, *, limit: int = 100) -> list[TranscriptSegment]:
    """Segments containing ``text`` (case-insensitive; a trigram index serves this on PostgreSQL)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = (select(TranscriptSegment).where(col(TranscriptSegment.text).ilike(pattern, escape="\\"))
            .order_by(col(TranscriptSegment.call_id), col(TranscriptSegment.idx)).limit(limit))
    return list(session.exec(stmt))
