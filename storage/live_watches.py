"""Which live calls someone is watching: the live transcriber (callqc/live_transcriber.py) follows them.

A row is written when a user opens a call in progress on the Live now or call page
(review_app/workflow/live_transcript.py) and stays until the call's full transcript replaces the
live one (:func:`storage.live_segments.drop`): once opened, a call is transcribed live to its end,
whoever closes the page. The transcriber runs in its own process, usually on the recorder host; this
table is how the review app, anywhere, tells it what to follow.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.calls import Call, CallStatus
from storage.models import UTCDateTime, utcnow


class LiveWatch(SQLModel, table=True):
    __tablename__ = "live_watches"

    call_id: str = Field(primary_key=True, max_length=128)  # no foreign key: like live_segments
    watched_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def watch(session: Session, call_id: str) -> bool:
    """Mark ``call_id`` watched; True when this made it so, False when it already was."""
    if session.get(LiveWatch, call_id) is not None:
        return False
    try:
        with session.begin_nested():  # another page opened it a moment ago: the insert fails, alone
            session.add(LiveWatch(call_id=call_id))
    except sa.exc.IntegrityError:
        return False
    return True


def is_watched(session: Session, call_id: str) -> bool:
    return session.get(LiveWatch, call_id) is not None


def watched_live(session: Session) -> list[str]:
    """The watched calls still in progress, oldest watch first."""
    q = (select(LiveWatch.call_id).join(Call, col(Call.call_id) == col(LiveWatch.call_id))
         .where(col(Call.status) == CallStatus.in_progress.value).order_by(col(LiveWatch.watched_at)))
    return list(session.exec(q))


def unwatch(session: Session, call_id: str) -> None:
    session.execute(sa.delete(LiveWatch).where(col(LiveWatch.call_id) == call_id))
