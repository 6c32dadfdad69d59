"""The call: its table family (``CallBase``, ``Call``, ``CallPublic``) and its life, declared once.

A call is created ``in_progress`` (live capture) or ``recorded`` (a finished file), and moves only
along :data:`MOVES`. Every move is one guarded statement, :func:`move`: ``UPDATE calls SET status=:to
WHERE call_id=:id AND status IN (<states that may move to :to>) RETURNING``; zero rows means the
call is not where the caller thought (someone else moved it, or it never existed) and
:class:`CallMoved` is raised: callers decide whether that is an error or "nothing to do".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col

from storage.errors import Conflict
from storage.models import UTCDateTime, ts_column, utcnow


class CallStatus(StrEnum):
    in_progress = "in_progress"  # live: audio arriving from a live capture, open to listening in
    recorded = "recorded"  # audio stored and registered; transcription queued
    transcribed = "transcribed"  # segments stored; scoring queued
    scored = "scored"  # auto-evaluation stored
    failed = "failed"  # a step failed for good; last_error says why


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    internal = "internal"
    unknown = "unknown"


class CallBase(SQLModel):
    call_id: str = Field(primary_key=True, max_length=128)
    tenant: str = Field(default="default", max_length=64, index=True)
    agent_id: str | None = Field(default=None, max_length=64, index=True)
    team: str | None = Field(default=None, max_length=64, index=True)
    queue: str | None = Field(default=None, max_length=64, index=True)
    direction: Direction = Field(default=Direction.unknown, sa_type=sa.String(16))
    caller: str | None = Field(default=None, max_length=64)
    callee: str | None = Field(default=None, max_length=64)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ended_at: datetime | None = ts_column()
    duration_s: float = 0.0
    codec: str = Field(max_length=32)
    sample_rate: int
    channels: int
    # {"agent": 0, "customer": 1} for stereo; {"unknown": 0} for mono (speaker attribution fallback)
    channel_map: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    audio_key: str = Field(max_length=256)
    size_bytes: int
    sha256: str = Field(max_length=64)
    status: CallStatus = Field(default=CallStatus.recorded, sa_type=sa.String(16), index=True)
    last_error: str | None = None


class Call(CallBase, table=True):
    __tablename__ = "calls"
    __table_args__ = (
        # a team's or an agent's calls of a period (dashboards, KPIs, scorecards, sampling)
        sa.Index("ix_calls_tenant_team_started", "tenant", "team", "started_at",
                 postgresql_include=["call_id", "agent_id"]),  # a sampling pool: index-only
        # an agent's calls with what the scorecard joins and scopes on: index-only (no heap block per call)
        sa.Index("ix_calls_agent_started", "agent_id", "started_at", postgresql_include=["call_id", "tenant", "team"]),
        sa.Index("ix_calls_updated_at", "updated_at"),  # what the day rollup refreshes (storage/rollups.py)
        # search by call-ID prefix (LIKE 'x%'): PostgreSQL uses a btree for it only with pattern ops
        sa.Index("ix_calls_call_id_pattern", "call_id", postgresql_ops={"call_id": "varchar_pattern_ops"}),
    )

    hot_present: bool = True  # False once the archive verified the call and the hot copy was deleted
    archived_at: datetime | None = ts_column()
    # set by retention disposal (storage/disposal.py): hot audio and transcript deleted, archive copy kept
    disposed_at: datetime | None = ts_column()
    # times the channel map was flipped (scoring/channel_map.py): the flip's guard, so two flips of one
    # view never cancel each other out
    channel_flips: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False, server_default="0"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class CallPublic(CallBase):
    hot_present: bool
    archived_at: datetime | None
    created_at: datetime


class CallRecord(CallPublic):
    """A call as the recorder API returns it: the row plus the channel check's verdict as of the last
    scoring (``{verdict, confidence, score, reasons, flips}``; None before scoring or for a mono call)."""

    channel_check: dict[str, Any] | None = None


# Where each state may go. ``transcribed → transcribed`` is a re-transcription (a job run twice,
# or a call transcribed again); ``scored`` moves nowhere: a rescore adds an evaluation instead.
MOVES: Mapping[CallStatus, frozenset[CallStatus]] = {
    CallStatus.in_progress: frozenset({CallStatus.recorded, CallStatus.failed}),
    CallStatus.recorded: frozenset({CallStatus.transcribed, CallStatus.failed}),
    CallStatus.transcribed: frozenset({CallStatus.transcribed, CallStatus.scored, CallStatus.failed}),
    CallStatus.scored: frozenset(),
    CallStatus.failed: frozenset(),
}


def sources_of(to: CallStatus) -> list[CallStatus]:
    """The states a call may move to ``to`` from."""
    return [s for s, targets in MOVES.items() if to in targets]


class CallMoved(Conflict):
    """call is not in a state that may move there"""


def move(session: Session, call_id: str, to: CallStatus, **values: Any) -> None:
    """Move the call to ``to`` in one guarded statement (CallMoved when zero rows match).

    ``values`` are other columns written in the same statement (``last_error``, ``ended_at``, ...).
    Runs in the caller's transaction, so the move commits or rolls back with the work it records.
    """
    sources = sources_of(to)
    row = session.execute(
        sa.update(Call).where(col(Call.call_id) == call_id, col(Call.status).in_([s.value for s in sources]))
        .values(status=to.value, updated_at=utcnow(), **values).returning(col(Call.call_id))
    ).first()
    if row is None:
        raise CallMoved(f"{call_id} -> {to}: only from {', '.join(sources)}")


def replace_audio(session: Session, call_id: str, *, seen_sha256: str, **values: Any) -> bool:
    """New audio for a registered call (a late leg joined, recorder/late_legs.py): one guarded
    statement, ``UPDATE calls SET <values>, status='recorded' WHERE call_id=:id AND sha256=:seen AND
    archived_at IS NULL AND status IN ('recorded','transcribed','scored') RETURNING``. The call goes
    back to ``recorded`` to be transcribed and scored again; this is the only way back, and not a
    :data:`MOVES` edge (a live finish or a job must never move a scored call back). False when no row
    matched: the audio changed meanwhile (the caller looks again) or the call may no longer change."""
    row = session.execute(
        sa.update(Call).where(col(Call.call_id) == call_id, col(Call.sha256) == seen_sha256,
                              col(Call.archived_at).is_(None),
                              col(Call.status).in_([CallStatus.recorded.value, CallStatus.transcribed.value,
                                                    CallStatus.scored.value]))
        .values(status=CallStatus.recorded.value, last_error=None, updated_at=utcnow(), **values)
        .returning(col(Call.call_id))
    ).first()
    return row is not None
