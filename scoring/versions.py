"""Rubric versions: register the rubric a call is scored with, and load the version an old
evaluation used (parsed from the YAML kept in ``storage/rubrics.py``)."""

from __future__ import annotations

from functools import lru_cache

from sqlmodel import Session

from scoring.rubric import LoadedRubric, parse_rubric, title_text
from storage.rubrics import RubricRow, add_rubric_version, rubric_row


def register_rubric(session: Session, loaded: LoadedRubric) -> RubricRow:
    """Store ``loaded``'s version once (RubricVersionConflict if that version was stored with other content)."""
    rid, version = loaded.key
    return add_rubric_version(session, RubricRow(
        rubric_id=rid, version=version, content_hash=loaded.content_hash,
        title=title_text(loaded.rubric.title)[:256], yaml_text=loaded.yaml_text, source=loaded.source[:512]))


def stored_rubric(session: Session, rubric_id: str, version: int) -> LoadedRubric:
    """A rubric version as it was stored (the one its evaluations used)."""
    row = rubric_row(session, rubric_id, version)
    return _parse_cached(row.yaml_text, row.source)


@lru_cache(maxsize=32)
def _parse_cached(text: str, source: str) -> LoadedRubric:
    return parse_rubric(text, source)
