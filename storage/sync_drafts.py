"""Synchronous reviews (同步抽听) in the making: what an inspector marks while listening to a live call.

One row per (call, inspector): the answers marked so far, each with the second of the call at which
it was marked, and a note. It becomes a review (``reviews.mode = "sync"``) when submitted after the
call has ended; ``review_id`` then links the two and the draft stays, as the record of when each
item was marked. The rules are in review_app/workflow/sync_review.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import JSON, Column, Field, SQLModel

from storage.models import UTCDateTime, utcnow


class SyncDraft(SQLModel, table=True):
    __tablename__ = "sync_drafts"
    __table_args__ = (UniqueConstraint("call_id", "inspector"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    inspector: str = Field(max_length=64, index=True)
    # item ID -> {"answer": yes|no|n/a|None, "comment": str, "at_s": second of the call when marked}
    marks: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str = ""
    review_id: int | None = Field(default=None, foreign_key="reviews.id")  # set once submitted
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
