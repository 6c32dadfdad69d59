"""Jobs: their kinds (declared once, with the stage that handles each), states, table, and what a
handler is given. The queue's operations on them are in ``storage/queue.py``.

A handler is ``handle(ctx: JobContext) -> None``; it must be idempotent (a job may run twice when a
worker dies mid-job). It raises :class:`PermanentError` for a failure no retry can fix.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from storage.errors import CallqcError
from storage.models import UTCDateTime, ts_column, utcnow


class JobKind(StrEnum):
    """The kinds of job, declared once; :data:`HANDLERS` says which stage runs each."""

    transcribe = "transcribe"
    score = "score"


# Kind → "module:function" of its handler. Data, not an import: storage names the stage that runs a
# kind, and the worker (callqc/, on top of every layer) loads it. A test checks every kind has one.
HANDLERS: Mapping[str, str] = {
    JobKind.transcribe: "transcribe.handler:handle",
    JobKind.score: "scoring.handler:handle",
}


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


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the claimed job and who runs it."""

    job_id: int
    kind: str
    call_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    worker_id: str = ""
    # Set when the worker lost the lease (the job was requeued elsewhere): a long handler may
    # check it and stop early; its result will not be recorded either way.
    lease_lost: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


class PermanentError(CallqcError):
    """job failed permanently"""
