"""Rows stored before metadata was checked on the way in: the month's archive run skips them with a
logged and audited reason and archives the rest, instead of aborting."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from storage.archive.run import run_month
from storage.archive.tables import ArchiveEntry
from storage.calls import Call
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.stores import make_store
from tests.archive_helpers import make_calls


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"end": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


POISONS = {
    "lone-surrogate": {"note": "bad \ud800 text"},
    "nested-900": _deep(900),
}


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_archive_run_skips_a_poisoned_old_row_and_archives_the_rest(sqlite_db: str, poison: str) -> None:
    """A poisoned call is skipped (warning + archive_skip audit row with the reason); the others of the
    month are archived and verified; a second run skips it again and never aborts."""
    store = make_store()
    calls = make_calls(store, month="2024-06", n=3)
    bad = sorted(calls)[1]
    with session() as s:
        # written as old code did, past today's checks (the JSON column's own serialiser)
        s.execute(sa.update(Call).where(Call.call_id == bad).values(meta=POISONS[poison]))
    summary = run_month("2024-06", media="dvd", actor="test", store=store)
    assert summary.calls == 2
    with session() as s:
        archived = {e.call_id for e in s.exec(select(ArchiveEntry))}
        skips = s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.archive_skip)).all()
        row = s.get(Call, bad)
        assert row is not None and row.archived_at is None
    assert archived == set(calls) - {bad}
    assert [(a.call_id, a.detail["month"]) for a in skips] == [(bad, "2024-06")]
    assert "cannot be written as JSON" in skips[0].detail["reason"]
    assert run_month("2024-06", media="dvd", actor="test", store=store).calls == 0
