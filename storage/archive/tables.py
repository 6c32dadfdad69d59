"""Archive tables: monthly runs, their disc images, where each call lives, legal holds.

A run's plan (which call goes on which disc) is stored before any image is built, so a crashed
run resumes with the same discs. ``archive_entries`` has the call ID as primary key: a call is on
exactly one image, which is what makes re-runs free of duplicates.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from storage.models import UTCDateTime, ts_column, utcnow


class RunState(StrEnum):
    open = "open"  # planned; some images not yet verified
    done = "done"  # every image verified and its calls marked archived


class ImageState(StrEnum):
    planned = "planned"  # calls assigned, nothing built
    built = "built"  # image mastered; size, SHA-256 and offsets recorded; upload may or may not have happened
    stored = "stored"  # uploaded and under retention
    verified = "verified"  # read back and checked; its calls are marked archived


class ArchiveRun(SQLModel, table=True):
    __tablename__ = "archive_runs"
    __table_args__ = (sa.UniqueConstraint("month", "seq", name="uq_archive_runs_month_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)  # YYYY-MM
    seq: int = 1  # a later run of the same month picks up calls that arrived after the first
    media_bytes: int = Field(sa_type=sa.BigInteger)
    disc_count: int
    call_count: int
    total_bytes: int = Field(sa_type=sa.BigInteger)
    state: RunState = Field(default=RunState.open, sa_type=sa.String(16))
    actor: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = ts_column()


class ArchiveImageBase(SQLModel):
    month: str = Field(max_length=7, index=True)
    disc: int
    disc_count: int
    object_key: str = Field(max_length=256, unique=True, index=True)
    state: ImageState = Field(default=ImageState.planned, sa_type=sa.String(16))
    call_count: int = 0
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    version_id: str | None = Field(default=None, max_length=256)
    retention_mode: str | None = Field(default=None, max_length=16)
    retain_until: datetime | None = ts_column()
    legal_hold: bool = False
    stored_at: datetime | None = ts_column()
    verified_at: datetime | None = ts_column()
    fixity_checked_at: datetime | None = ts_column()
    fixity_ok: bool | None = None
    fixity_error: str | None = Field(default=None, max_length=512)


class ArchiveImage(ArchiveImageBase, table=True):
    __tablename__ = "archive_images"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="archive_runs.id", index=True)


class ArchiveImagePublic(ArchiveImageBase):
    id: int
    run_id: int


class ArchiveEntry(SQLModel, table=True):
    """Where one call's audio lives inside an image (offset is known once the image is built)."""

    __tablename__ = "archive_entries"

    call_id: str = Field(primary_key=True, max_length=128)  # no FK: outlives hot rows
    image_id: int = Field(foreign_key="archive_images.id", index=True)
    path: str = Field(max_length=512)  # Rock Ridge path of the audio inside the image
    offset: int | None = Field(default=None, sa_type=sa.BigInteger)
    length: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    # which audio the entry's path holds: "original", "redacted" (the copy with personal data cut
    # out) or "clean" (the original, in which redaction found nothing to cut); see archive_audio
    audio: str = Field(default="original", max_length=16)


class ArchiveHold(SQLModel, table=True):
    """A legal hold asked for one call; its image stays held while any of its calls has one."""

    __tablename__ = "archive_holds"

    call_id: str = Field(primary_key=True, max_length=128)
    image_id: int = Field(foreign_key="archive_images.id", index=True)
    actor: str = Field(max_length=128)
    reason: str | None = Field(default=None, max_length=512)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
