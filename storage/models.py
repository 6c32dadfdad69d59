"""Shared column types (timezone-aware UTC timestamps) and the audit log's table.

Each noun keeps its tables in its own module (calls in ``storage/calls.py``, jobs in
``storage/jobs.py``, transcripts in ``storage/transcripts.py``, ...), all registered on the same
``SQLModel.metadata`` (``storage/schema.py``) and created by the Alembic migrations in
``storage/migrations``. Timestamps are timezone-aware UTC everywhere (:class:`UTCDateTime`).
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


class AuditAction(StrEnum):
    ingest = "ingest"
    play = "play"
    download = "download"
    retrieve = "retrieve"
    view = "view"
    archive_run = "archive_run"
    archive_verify = "archive_verify"
    archive_verify_failed = "archive_verify_failed"
    archive_skip = "archive_skip"  # a call whose stored record cannot be written to a disc
    legal_hold = "legal_hold"
    legal_release = "legal_release"
    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    sign_out = "sign_out"
    session_ended = "session_ended"  # a live review-app session ended by the app (user disabled)
    report = "report"  # a report (monthly quality audit) was built for download
    redact = "redact"  # redaction (re-)run on a call
    view_original = "view_original"  # original (unredacted) transcript shown to someone with `pii`
    clip = "clip"  # a clip of the call's audio downloaded
    export = "export"  # the call's audio exported as MP3/OGG/WAV
    media_denied = "media_denied"  # a play/download asked for and refused (token, role or owner)
    dispose = "dispose"  # retention disposal deleted a call's hot audio and transcript
    channel_flip = "channel_flip"  # a call's agent/customer channel map flipped (by hand or by the check)
    leg_join = "leg_join"  # a late leg of a split recording joined to its call (recorder/late_legs.py)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        # the audit filter reads one actor's or action's rows newest first (ORDER BY id DESC LIMIT n): with
        # the id in the index that is a backward index scan that stops after n rows, not a sort of every
        # row of the actor (cli:recorder has one per call)
        sa.Index("ix_audit_log_actor_id", "actor", "id"),
        sa.Index("ix_audit_log_action_id", "action", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=128)  # user name, "cli:<os user>", "api:<token name>"
    action: str = Field(max_length=32)  # an AuditAction value
    call_id: str | None = Field(default=None, max_length=128, index=True)  # no FK: outlives hot rows
    source: str | None = Field(default=None, max_length=256)  # from where: IP, host, "cli"
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
