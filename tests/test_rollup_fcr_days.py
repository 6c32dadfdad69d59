"""The hour rollup keeps the ``fcr_days`` its repeat-call rows (``hour_repeats``) were computed with. After the
setting changes, the KPI pages' FCR follows the new setting at once (read from the call rows, not from the
stale rows), and the next refresh, even an incremental one, recomputes every repeat row with it; rows of
an unknown setting (before migration 0038) are recomputed the same way."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from review_app.workflow import rollup
from storage import db as dbmod
from storage import repeats
from storage.repeats import HourRepeats
from storage.rollups import RollupState
from storage.settings import get_settings, reset_settings
from tests.test_repeat_rollup import T0, _assert_equal_raw, _stored_equals_raw, _world


def _state(s: Session) -> RollupState:
    state = s.get(RollupState, "hour_stats")
    assert state is not None
    return state


def _stored(s: Session) -> dict[tuple[str, ...], dict[str, int]]:
    return {(h.hour, h.tenant, h.team, h.agent_id, h.queue): {c: getattr(h, c) for c in repeats.COUNTS}
            for h in s.exec(select(HourRepeats))}


def test_a_changed_fcr_days_is_followed_by_the_pages_at_once_and_by_the_next_incremental_refresh(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with dbmod.session() as s:
        _world(s, random.Random(61), 200)
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        assert _state(s).fcr_days == get_settings().fcr_days == 7
        at_seven = _stored(s)
    monkeypatch.setenv("CALLQC_FCR_DAYS", "1.5")
    reset_settings()
    with dbmod.session() as s:
        # the stored rows are now wrong for the setting: a page reading them would show other figures
        assert repeats.raw_rows(s, T0, T0 + timedelta(days=40)) != at_seven
        assert repeats.window_counts(s, rollup._EVERYONE, T0, T0 + timedelta(days=40)) is not None
        _assert_equal_raw(s)  # ... yet every page's FCR equals the figure computed with 1.5 days
    told: list[str] = []
    with dbmod.session() as s:
        rollup.refresh(s, progress=told.append)  # incremental: nothing else changed
    assert told == ["hour_repeats: fcr_days was 7.0, is 1.5: every hour recomputed"]
    with dbmod.session() as s:
        assert _state(s).fcr_days == 1.5
        _stored_equals_raw(s)
        _assert_equal_raw(s)
    told.clear()
    with dbmod.session() as s:
        rollup.refresh(s, progress=told.append)
    assert told == []  # the same setting: nothing more to recompute


def test_rows_of_an_unknown_fcr_days_are_not_read_and_are_recomputed_by_the_next_refresh(db_url: str) -> None:
    with dbmod.session() as s:
        _world(s, random.Random(62), 120)
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:  # as migration 0038 leaves a database refreshed before it
        s.execute(sa.update(RollupState).values(fcr_days=None))
        s.execute(sa.update(HourRepeats).values(repeat_any=HourRepeats.fcr_known, repeat_tenant=HourRepeats.fcr_known,
                                                repeat_team=HourRepeats.fcr_known))  # rows no page may trust
    with dbmod.session() as s:
        _assert_equal_raw(s)
    told: list[str] = []
    with dbmod.session() as s:
        rollup.refresh(s, progress=told.append)
    assert told == ["hour_repeats: fcr_days was None, is 7.0: every hour recomputed"]
    with dbmod.session() as s:
        assert _state(s).fcr_days == 7
        _stored_equals_raw(s)
        _assert_equal_raw(s)
