"""The live transcript as rows: what was said so far in a call still in progress, per speaker.

Written by the live transcriber (callqc/live_transcriber.py) window by window while someone watches
the call (or for every live call, ``live_transcript_all``); read by the call and Live now pages until
the call's full transcript (storage/transcripts.py) replaces it: stored with that transcript, in the
same transaction, the live rows are deleted (:func:`drop`): the live text is rougher, and it was never
redacted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.live_watches import unwatch
from storage.models import UTCDateTime, utcnow
from storage.transcripts import Transcript


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


def add(session: Session, rows: list[LiveSegment]) -> int:
    """Store live lines, except for calls whose full transcript already replaced the live one (a
    last window transcribed after the transcription job stored it); rows stored."""
    done = {cid for cid in {r.call_id for r in rows} if session.get(Transcript, cid) is not None}
    kept = [r for r in rows if r.call_id not in done]
    for r in kept:
        session.add(r)
    session.flush()
    return len(kept)


def for_call(session: Session, call_id: str) -> list[LiveSegment]:
    """The call's live segments in speech order."""
    return list(session.exec(select(LiveSegment).where(LiveSegment.call_id == call_id)
                             .order_by(col(LiveSegment.start_s), col(LiveSegment.id))))


def drop(session: Session, call_id: str) -> int:
    """Delete the call's live transcript and its watch (the full transcript replaces them); rows deleted."""
    unwatch(session, call_id)
    gone = session.execute(sa.delete(LiveSegment).where(col(LiveSegment.call_id) == call_id))
    return int(getattr(gone, "rowcount", 0) or 0)
