"""PCI pauses: spans of a live call whose audio is not kept (card numbers read out), and who asked.

A pause is opened by the API (agent desktop, IVR) or by the recording client (SIPREC ``a=inactive``)
and closed by a resume or by the end of the call. Opening and closing are one guarded statement
each: a pause opens only on a call that is ``in_progress`` and not already paused; a resume closes
only an open pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col

from storage.calls import Call, CallStatus
from storage.errors import Conflict, NotFound
from storage.models import UTCDateTime, ts_column, utcnow


class CallPause(SQLModel, table=True):
    __tablename__ = "call_pauses"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = ts_column()
    paused_by: str = Field(max_length=128)  # "api", "siprec", or the name the client gave
    resumed_by: str | None = Field(default=None, max_length=128)


class NotLive(Conflict):
    """call is not being recorded"""


class AlreadyPaused(Conflict):
    """call is already paused"""


class NotPaused(Conflict):
    """call is not paused"""


pauses: sa.Table = CallPause.__table__  # type: ignore[attr-defined]
calls: sa.Table = Call.__table__  # type: ignore[attr-defined]


def pause(session: Session, call_id: str, by: str, *, at: datetime | None = None) -> int:
    """Open a pause on a live call; its id."""
    at = at or utcnow()
    live = sa.exists().where(calls.c.call_id == call_id, calls.c.status == CallStatus.in_progress.value)
    open_ = sa.exists().where(pauses.c.call_id == call_id, pauses.c.ended_at.is_(None))
    row = session.execute(
        sa.insert(pauses).from_select(
            ["call_id", "started_at", "paused_by"],
            sa.select(sa.literal(call_id), sa.literal(at, UTCDateTime()), sa.literal(by[:128])).where(live, ~open_),
        ).returning(pauses.c.id)
    ).first()
    if row is None:
        status = session.execute(sa.select(calls.c.status).where(calls.c.call_id == call_id)).scalar()
        if status is None:
            raise NotFound(f"call {call_id}")
        if status != CallStatus.in_progress.value:
            raise NotLive(f"{call_id} is {status}")
        raise AlreadyPaused(call_id)
    return int(row[0])


def resume(session: Session, call_id: str, by: str, *, at: datetime | None = None) -> int:
    """Close the call's open pause; its id."""
    row = session.execute(
        sa.update(pauses).where(pauses.c.call_id == call_id, pauses.c.ended_at.is_(None))
        .values(ended_at=at or utcnow(), resumed_by=by[:128]).returning(pauses.c.id)
    ).first()
    if row is None:
        if session.execute(sa.select(calls.c.call_id).where(calls.c.call_id == call_id)).first() is None:
            raise NotFound(f"call {call_id}")
        raise NotPaused(call_id)
    return int(row[0])


def close_open(session: Session, call_id: str, at: datetime) -> None:
    """End a pause still open when the call ends (the rest of the call stays paused)."""
    session.execute(
        sa.update(pauses).where(pauses.c.call_id == call_id, pauses.c.ended_at.is_(None))
        .values(ended_at=at, resumed_by="call end")
    )


def of_calls(session: Session, call_ids: Sequence[str]) -> list[CallPause]:
    if not call_ids:
        return []
    return list(session.exec(
        sa.select(CallPause).where(col(CallPause.call_id).in_(list(call_ids))).order_by(col(CallPause.started_at))
    ).scalars())  # type: ignore[call-overload]


def in_recording(session: Session, call: Call) -> list[tuple[float, float]]:
    """The call's paused spans as [start, end) seconds from the start of its recording, merged.

    The recording starts at ``call.started_at``; a pause still open runs to the end of the call. Spans
    are clipped to the recording (``duration_s``, when known): these are the stretches that hold PCI
    silence instead of the conversation, so metrics and transcription leave them out.
    """
    end_of_call = call.duration_s if call.duration_s > 0 else float("inf")
    spans: list[tuple[float, float]] = []
    for p in of_calls(session, [call.call_id]):
        a = (p.started_at - call.started_at).total_seconds()
        b = (p.ended_at - call.started_at).total_seconds() if p.ended_at is not None else end_of_call
        a, b = max(0.0, a), min(b, end_of_call)
        if b > a:
            spans.append((round(a, 3), round(b, 3)))
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
