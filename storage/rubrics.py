"""Rubric versions as stored: every evaluation names the rubric id + version it used.

The rubric's YAML is kept with its content hash, so an old evaluation is always shown with its own
titles and items, and a changed rubric must carry a new version number.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.errors import Conflict, NotFound
from storage.models import UTCDateTime, utcnow

if TYPE_CHECKING:
    from scoring.rubric import LoadedRubric

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


def register_rubric(session: Session, loaded: LoadedRubric) -> RubricRow:
    """Store a rubric version once; a different content under a stored id+version is refused."""
    from scoring.rubric import title_text

    rid, version = loaded.key
    row = session.get(RubricRow, (rid, version))
    if row is not None:
        if row.content_hash != loaded.content_hash:
            raise RubricVersionConflict(
                f"{loaded.source}: rubric {rid!r} version {version} differs from the stored version "
                f"{version} (from {row.source}); bump 'version'")
        return row
    row = RubricRow(rubric_id=rid, version=version, content_hash=loaded.content_hash,
                    title=title_text(loaded.rubric.title)[:256], yaml_text=loaded.yaml_text,
                    source=loaded.source[:512])
    try:
        # A savepoint: two workers scoring their first calls at once both find no row; the one whose
        # insert loses keeps its transaction and checks the winner's row instead of failing its job.
        with session.begin_nested():
            session.add(row)
    except sa.exc.IntegrityError:
        if row in session:
            session.expunge(row)
        stored = session.get(RubricRow, (rid, version), populate_existing=True)
        if stored is None:
            raise
        if stored.content_hash != loaded.content_hash:
            raise RubricVersionConflict(
                f"{loaded.source}: rubric {rid!r} version {version} differs from the stored version "
                f"{version} (from {stored.source}); bump 'version'") from None
        return stored
    log.info("register rubric: %s v%s (%s)", rid, version, loaded.content_hash[:12])
    return row


def stored_rubric(session: Session, rubric_id: str, version: int) -> LoadedRubric:
    """A rubric version as it was stored (the one its evaluations used)."""
    row = session.get(RubricRow, (rubric_id, version))
    if row is None:
        raise NotFound(f"rubric {rubric_id!r} version {version}")
    return _parse_cached(row.yaml_text, row.source)


@lru_cache(maxsize=32)
def _parse_cached(text: str, source: str) -> LoadedRubric:
    from scoring.rubric import parse_rubric

    return parse_rubric(text, source)


def rubric_versions(session: Session) -> list[RubricRow]:
    return list(session.exec(select(RubricRow).order_by(col(RubricRow.rubric_id), col(RubricRow.version))))
