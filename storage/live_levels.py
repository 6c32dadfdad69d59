"""Live loudness as rows: each speaker's level per 100 ms frame of a call in progress.

Written by the process recording the call (recorder/levels.py) as the journal grows, one row per call
and pass (about a second of frames); read by the live flags (review_app/workflow/live_flags.py)
wherever the review app runs, so long silence, overtalk and raised voice no longer need the
recorder host's journal. A row holds consecutive frames from ``start_frame`` (frame 0 starts at the
call's answer); ``levels`` maps each speaker's role to their frames' RMS in tenths of dBFS (-900 is
nothing heard). ``(call_id, start_frame)`` is unique, so a row written twice is refused, never
counted twice. The rows go once the call has ended (:func:`drop`): the recorded call has its own
metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, func, select

from storage.models import UTCDateTime, utcnow

FRAME_S = 0.1  # seconds per frame
DB_SCALE = 10  # stored value = dBFS × DB_SCALE, rounded


class LiveLevel(SQLModel, table=True):
    __tablename__ = "live_levels"
    __table_args__ = (sa.UniqueConstraint("call_id", "start_frame"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(max_length=128, index=True)  # no foreign key: written before the call row may exist
    start_frame: int  # first frame of the row, counted from the call's answer
    frames: int  # how many consecutive frames each role's list holds
    levels: dict[str, list[int]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    written_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


def add(session: Session, rows: Sequence[LiveLevel]) -> None:
    for r in rows:
        session.add(r)
    session.flush()


def edges(session: Session, call_ids: Sequence[str]) -> dict[str, int]:
    """The frame each call's levels reach now (calls with no row are left out)."""
    if not call_ids:
        return {}
    q = (select(LiveLevel.call_id, func.max(LiveLevel.start_frame + LiveLevel.frames))
         .where(col(LiveLevel.call_id).in_(list(call_ids))).group_by(col(LiveLevel.call_id)))
    return {cid: int(end) for cid, end in session.exec(q)}


def since(session: Session, after: dict[str, int]) -> list[LiveLevel]:
    """Rows of each call that end after its frame in ``after``, in frame order per call."""
    if not after:
        return []
    low = min(after.values())
    rows = session.exec(select(LiveLevel).where(col(LiveLevel.call_id).in_(list(after)),
                                                LiveLevel.start_frame + LiveLevel.frames > low)
                        .order_by(col(LiveLevel.call_id), col(LiveLevel.start_frame)))
    return [r for r in rows if r.end_frame > after[r.call_id]]


def drop(session: Session, call_id: str) -> int:
    """Delete a call's levels (its call has ended); how many rows went."""
    result = session.execute(sa.delete(LiveLevel).where(col(LiveLevel.call_id) == call_id))
    return int(getattr(result, "rowcount", 0) or 0)
