"""Database models of the backbone: calls, jobs, audit log.

Families follow sqlmodel's pattern: ``CallBase`` (shared fields), ``Call(table=True)``, ``CallPublic``
(what the CLI and API show). Other rooms keep their tables in their own modules (transcripts in
``storage/transcripts.py``, evaluations in ``storage/evaluations.py``, ...), all registered on the
same ``SQLModel.metadata`` and created by the Alembic migrations in ``storage/migrations``.
Timestamps are timezone-aware UTC everywhere (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class CallStatus(StrEnum):
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

    hot_present: bool = True  # False once the archive verified the call and the hot copy was deleted
    archived_at: datetime | None = ts_column()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class CallPublic(CallBase):
    hot_present: bool
    archived_at: datetime | None
    created_at: datetime


class JobKind(StrEnum):
    transcribe = "transcribe"  # handler: transcribe.handler.handle
    score = "score"  # handler: scoring.handler.handle


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"  # out of attempts; last_error kept


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_claim", "state", "kind", "run_after"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    call_id: str | None = Field(default=None, foreign_key="calls.call_id", max_length=128, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: JobState = Field(default=JobState.queued, sa_type=sa.String(16))
    attempts: int = 0
    max_attempts: int = 5
    run_after: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    worker: str | None = Field(default=None, max_length=128)
    heartbeat_at: datetime | None = ts_column()
    started_at: datetime | None = ts_column()
    finished_at: datetime | None = ts_column()
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class AuditAction(StrEnum):
    ingest = "ingest"
    play = "play"
    download = "download"
    retrieve = "retrieve"
    view = "view"
    archive_run = "archive_run"
    archive_verify = "archive_verify"
    archive_verify_failed = "archive_verify_failed"
    legal_hold = "legal_hold"
    legal_release = "legal_release"
    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    sign_out = "sign_out"
    session_ended = "session_ended"  # a live review-app session ended by the app (user disabled)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=128, index=True)  # user name, "cli:<os user>", "api:<token name>"
    action: str = Field(max_length=32, index=True)  # an AuditAction value
    call_id: str | None = Field(default=None, max_length=128, index=True)  # no FK: outlives hot rows
    source: str | None = Field(default=None, max_length=256)  # from where: IP, host, "cli"
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
