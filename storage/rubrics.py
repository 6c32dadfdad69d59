"""Rubric versions as stored: every evaluation names the rubric id + version it used.

The rubric's YAML is kept with its content hash, so an old evaluation is always shown with its own
titles and items, and a changed rubric must carry a new version number.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel

from storage.errors import Conflict, NotFound
from storage.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)


class RubricVersionConflict(Conflict):
    """rubric changed without a new version"""


class RubricRow(SQLModel, table=True):
    __tablename__ = "rubrics"

    rubric_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    content_hash: str = Field(max_length=64)
    title: str = Field(max_length=256)
    yaml_text: str = Field(sa_type=sa.Text)
    source: str = Field(max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def add_rubric_version(session: Session, row: RubricRow) -> RubricRow:
    """Store a rubric version once; a different content under a stored id+version is refused.

    The row that is stored is returned: ``row`` itself, or the one already there (also when another
    process stored it a moment ago: the insert runs in a savepoint, so two workers scoring their first
    calls at once both succeed).
    """
    stored = session.get(RubricRow, (row.rubric_id, row.version))
    if stored is None:
        try:
            with session.begin_nested():
                session.add(row)
            log.info("register rubric: %s v%s (%s)", row.rubric_id, row.version, row.content_hash[:12])
            return row
        except sa.exc.IntegrityError:
            if row in session:
                session.expunge(row)
            stored = session.get(RubricRow, (row.rubric_id, row.version), populate_existing=True)
            if stored is None:
                raise
    if stored.content_hash != row.content_hash:
        raise RubricVersionConflict(
            f"{row.source}: rubric {row.rubric_id!r} version {row.version} differs from the stored version "
            f"{row.version} (from {stored.source}); bump 'version'")
    return stored


def rubric_row(session: Session, rubric_id: str, version: int) -> RubricRow:
    """A stored rubric version (NotFound if it was never stored)."""
    row = session.get(RubricRow, (rubric_id, version))
    if row is None:
        raise NotFound(f"rubric {rubric_id!r} version {version}")
    return row


