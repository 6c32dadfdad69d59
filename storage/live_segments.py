"""The live transcript as rows: what was said so far in a call still in progress, per speaker.

Written by the live transcriber (review_app/workflow/live_transcript.py) window by window while
someone watches the call; read by the call and Live now pages until the call's full transcript
(storage/transcripts.py) exists, which always wins: the live one is quicker and rougher.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, utcnow


class LiveSegment(SQLModel, table=True):
    __tablename__ = "live_segments"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(max_length=128, index=True)  # no foreign key: written while the call row may still change
    speaker: str = Field(max_length=16)  # agent, customer, unknown
    channel: int = 0
    start_s: float  # seconds since the call was answered
    end_s: float
    text: str
    heard_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def add(session: Session, rows: list[LiveSegment]) -> None:
    for r in rows:
        session.add(r)
    session.flush()


def for_call(session: Session, call_id: str) -> list[LiveSegment]:
    """The call's live segments in speech order."""
    return list(session.exec(select(LiveSegment).where(LiveSegment.call_id == call_id)
                             .order_by(col(LiveSegment.start_s), col(LiveSegment.id))))
