"""The day layer (storage/day_rollups.py: day_stats, day_repeats, day_shifts) gives the KPI page and the
dashboard tiles the same figures as the raw rows (SQLite and PostgreSQL), for month windows in UTC,
Shanghai (+08:00: whole hours at the edges) and Kolkata (+05:30: part hours at the edges): before any
refresh, after one, with a live tail (calls and a review after the refresh) and an edit of a refreshed
call, after refreshing again. Night shifts cross midnights (a day's first shift continues the day
before), one agent's calls overlap across a midnight and one agent works in two teams on one day (the
cases read from the call rows). The day rows equal their hours and the calls however often the
refresh runs, and the migration's fill writes the same rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import dashboard, rollup
from review_app.workflow.kpis import GroupBy, Period, kpi_rows
from storage import day_rollups, windows
from storage import db as dbmod
from storage.call_metrics import CallMetricsRow
from storage.calls import Call
from storage.day_rollups import day_shifts, day_stats
from storage.evaluations import Evaluation
from storage.repeats import COUNTS, HourRepeats, day_repeats
from storage.reviews import Review
from storage.rollups import SUMS, HourStats
from storage.settings import get_settings
from storage.users import Principal, Role
from tests.test_rollups import _call, _raw_dashboard, _raw_kpis, _review

SUP = Principal("sup", Role.supervisor)
TEAM_SUP = Principal("sup-t1", Role.supervisor, team="t1")
ADMIN = Principal("admin", Role.admin)
LINKS = day_rollups.LINK_COLUMNS
FORMS = ((GroupBy.agent, Period.day, None), (GroupBy.team, Period.month, None), (GroupBy.all, Period.week, None),
         (GroupBy.agent, Period.month, "t1"), (GroupBy.queue, Period.month, None))


def _set(s: Session, cid: str, **values: object) -> None:
    s.execute(sa.update(Call).where(col(Call.call_id) == cid).values(**values))


def _world(s: Session, r: random.Random) -> list[str]:
    """Late April to early June around the clock, plus night shifts of agent a1 (team t1) every 25 minutes
    from 22:00 to 02:00 across several midnights (two of them the month's edges), an agent whose two calls
    overlap across a midnight, and an agent in two teams on one day; written a day ago."""
    start = datetime(2026, 4, 28, tzinfo=UTC)
    ids = [_call(s, i, start + timedelta(minutes=r.randrange(37 * 24 * 60)), r) for i in range(140)]
    n = 500
    for night in (datetime(2026, 4, 30, 22, tzinfo=UTC), datetime(2026, 5, 9, 22, tzinfo=UTC),
                  datetime(2026, 5, 31, 22, tzinfo=UTC)):
        for k in range(10):
            cid = _call(s, n, night + timedelta(minutes=25 * k), r)
            _set(s, cid, agent_id="a1", team="t1", duration_s=float(r.randrange(300, 1500)))
            n += 1
    long_call = _call(s, n, datetime(2026, 5, 14, 23, 30, tzinfo=UTC), r)  # runs to 01:30: past the next call
    _set(s, long_call, agent_id="a3", team="t1", duration_s=7200.0)
    short = _call(s, n + 1, datetime(2026, 5, 15, 0, 10, tzinfo=UTC), r)
    _set(s, short, agent_id="a3", team="t1", duration_s=300.0)
    other_team = _call(s, n + 2, datetime(2026, 5, 12, 9, 40, tzinfo=UTC), r)
    _set(s, other_team, agent_id="a1", team="t0", duration_s=600.0)
    # a call of 27 hours (to 01:00 two days on: a later day joins it, not the day after only), then one
    # joining it; and a call just after a midnight that the live tail gives a call just before
    for k, (when, seconds) in enumerate(((datetime(2026, 5, 20, 22, tzinfo=UTC), 97200.0),
                                         (datetime(2026, 5, 22, 0, 30, tzinfo=UTC), 600.0),
                                         (datetime(2026, 5, 25, 0, 20, tzinfo=UTC), 600.0))):
        _set(s, _call(s, n + 3 + k, when, r), agent_id="a4" if k < 2 else "a5", team="t1", duration_s=seconds)
    ago = datetime.now(UTC) - timedelta(days=1)
    s.execute(sa.update(Call).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Evaluation).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Review).values(created_at=ago))
    s.execute(sa.update(CallMetricsRow).values(updated_at=ago))
    return ids


def _months() -> list[tuple[datetime, datetime]]:
    """May 2026 in UTC, Shanghai and Kolkata."""
    return [(datetime(2026, 5, 1, tzinfo=ZoneInfo(z)), datetime(2026, 6, 1, tzinfo=ZoneInfo(z)))
            for z in ("UTC", "Asia/Shanghai", "Asia/Kolkata")]


def _assert_equal_raw(s: Session) -> int:
    compared = 0
    for start, end in _months():
        for who in (SUP, TEAM_SUP, ADMIN):
            for by, period, team in FORMS:
                if who is TEAM_SUP and team is None and by == GroupBy.team:
                    continue
                got = [(r.group, r.period, r.kpis) for r in kpi_rows(s, who, start=start, end=end, by=by,
                                                                      period=period, team=team)]
                want = _raw_kpis(s, who, start, end, by, period, team=team)
                assert [g[:2] for g in got] == [w[:2] for w in want], (who.name, by, period, start)
                for (g, p, k), (_, _, ref) in zip(got, want, strict=True):
                    assert vars(k) == pytest.approx(vars(ref)), (who.name, by, period, g, p, start)
                compared += len(got)
        for team in (None, "t1"):
            got = vars(dashboard.kpis(s, SUP, start=start, end=end, team=team))
            assert got == pytest.approx(_raw_dashboard(s, start, end, team))
    return compared


def _snapshot(s: Session) -> dict[str, dict[tuple, dict[str, float]]]:
    out: dict[str, dict[tuple, dict[str, float]]] = {}
    for name, table, cols in (("stats", day_stats, SUMS), ("repeats", day_repeats, COUNTS),
                              ("shifts", day_shifts, day_rollups.SHIFT_COLUMNS + day_rollups.LINK_COLUMNS)):
        t = table.c
        out[name] = {(row.day, row.tenant, row.team, row.agent_id): {c: float(getattr(row, c)) for c in cols}
                     for row in s.execute(sa.select(t))}
    return out


def _day_rows_equal_hours_and_calls(s: Session) -> None:
    """Each day row is the sum of its hour rows; each shift row is its calls' shifts."""
    got = _snapshot(s)
    for name, table, cols in (("stats", HourStats, SUMS), ("repeats", HourRepeats, COUNTS)):
        want: dict[tuple, dict[str, float]] = {}
        for h in s.exec(select(table)):
            w = want.setdefault((h.hour[:10], h.tenant, h.team, h.agent_id), dict.fromkeys(cols, 0.0))
            for c in cols:
                w[c] += float(getattr(h, c))
        assert got[name] == {k: pytest.approx(v) for k, v in want.items()}, name
    cells = day_rollups.raw_cells(s, [sa.true()])
    got["shifts"] = {k: {c: v[c] for c in day_rollups.SHIFT_COLUMNS} for k, v in got["shifts"].items()}
    assert got["shifts"] == {(c.day, c.tenant, c.team, c.agent_id): pytest.approx(
        {k: float(getattr(c, k)) for k in day_rollups.SHIFT_COLUMNS}) for c in cells}
    links = {(row.day, row.tenant, row.team, row.agent_id): {c: float(getattr(row, c)) for c in LINKS}
             for row in s.execute(sa.select(day_shifts))}
    assert links == {k: pytest.approx(v) for k, v in _links(cells).items()}


def _links(cells: list[day_rollups.Cell]) -> dict[tuple, dict[str, float]]:
    """Each cell's join to the day before, from the cells (what day_rollups.link_days writes)."""
    gap_s = get_settings().shift_gap_min * 60
    by_key = {(c.day, c.tenant, c.team, c.agent_id): c for c in cells}
    keys_of: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for c in cells:
        keys_of.setdefault((c.day, c.agent_id), set()).add((c.tenant, c.team))
    out = {}
    for key, c in by_key.items():
        before = (windows.day_start(c.day) - timedelta(days=1)).strftime("%Y-%m-%d")
        prev = by_key.get((before, c.tenant, c.team, c.agent_id))
        joins = prev is not None and c.first_start - prev.last_end <= gap_s
        near = keys_of.get((before, c.agent_id), set()) | keys_of[(c.day, c.agent_id)]
        out[key] = {"join_s": c.first_start - prev.last_end if joins and prev else 0.0,
                    "join_past_first": float(joins and prev is not None and prev.last_end > c.first_end),
                    "crossed": float(len(near) > 1),
                    "reaches": float(c.last_end >= (windows.day_start(c.day) + timedelta(days=2)).timestamp() - gap_s)}
    return out


@pytest.mark.slow  # the raw reference recomputes every figure from the rows: about a minute per database
def test_kpis_from_the_day_layer_equal_the_raw_figures_across_refreshes_live_tail_and_edits(db_url: str) -> None:
    r = random.Random(41)
    with dbmod.session() as s:
        ids = _world(s, r)
    with dbmod.session() as s:  # never refreshed: from the raw rows
        assert _assert_equal_raw(s) > 200
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        assert len(_snapshot(s)["shifts"]) > 50
        _day_rows_equal_hours_and_calls(s)
        _assert_equal_raw(s)
    # the live tail and an edit, not refreshed: new calls inside the month and at its edges (one joins a
    # night shift of a refreshed day), a review of an old call, a refreshed call made longer and moved
    with dbmod.session() as s:
        for k, when in enumerate((datetime(2026, 5, 20, 13, 5, tzinfo=UTC), datetime(2026, 5, 31, 23, 50, tzinfo=UTC),
                                  datetime(2026, 5, 10, 2, 30, tzinfo=UTC), datetime(2026, 4, 30, 18, 45, tzinfo=UTC))):
            cid = _call(s, 900 + k, when, r)
            if k == 2:
                _set(s, cid, agent_id="a1", team="t1", duration_s=900.0)
        # ends at 00:05, 15 minutes before a5's refreshed first call of the day after: that day's join changes
        _set(s, _call(s, 910, datetime(2026, 5, 24, 23, 55, tzinfo=UTC), r), agent_id="a5", team="t1",
             duration_s=600.0)
        _review(s, ids[7], r)
        edited = s.get(Call, ids[11])
        assert edited is not None
        _set(s, ids[11], duration_s=edited.duration_s + 2000.0, team="t1" if edited.team != "t1" else "t0",
             updated_at=datetime.now(UTC))
    with dbmod.session() as s:
        _assert_equal_raw(s)
    for _ in range(2):  # refreshing again and again recomputes days, never adds to them
        with dbmod.session() as s:
            rollup.refresh(s)
        with dbmod.session() as s:
            _day_rows_equal_hours_and_calls(s)
            _assert_equal_raw(s)
            assert sum(row.calls for row in s.execute(sa.select(day_stats.c.calls))) == len(list(s.exec(select(Call))))
    with dbmod.session() as s:  # the migration's fill (every day at once) writes the same rows
        before = _snapshot(s)
        day_rollups.refresh(s, None)
    with dbmod.session() as s:
        after = _snapshot(s)
        for name, rows in before.items():
            assert after[name] == {k: pytest.approx(v) for k, v in rows.items()}, name


def test_calls_per_hour_comes_from_the_day_shifts_once_refreshed(db_url: str) -> None:
    """What makes the tenant-wide page fast: after a refresh a month's calls per hour sums day_shifts rows."""
    with dbmod.session() as s:
        _world(s, random.Random(6))
    with dbmod.session() as s:
        rollup.refresh(s)
    def per_team(s: Session) -> dict[str, float | None]:
        return {r.group: r.kpis.calls_per_hour for r in kpi_rows(
            s, SUP, start=datetime(2026, 5, 1, tzinfo=UTC), end=datetime(2026, 6, 1, tzinfo=UTC), by=GroupBy.team,
            period=Period.month)}

    with dbmod.session() as s:
        first = per_team(s)
        t = day_shifts.c
        s.execute(sa.update(day_shifts).where(t.team == "t0").values(calls=t.calls * 2))
    with dbmod.session() as s:
        doubled = per_team(s)
    assert doubled["t0"] == pytest.approx(2 * first["t0"])  # type: ignore[operator]
    assert doubled["t1"] == pytest.approx(first["t1"])


def test_a_kolkata_month_reads_whole_days_edge_hours_and_part_hours_raw_and_touched_days_by_the_hour() -> None:
    z = ZoneInfo("Asia/Kolkata")
    start, end = datetime(2026, 5, 1, tzinfo=z), datetime(2026, 6, 1, tzinfo=z)  # 18:30 UTC on both edges
    cut = windows.split(start, end, {"2026-05-10T07", "2026-03-01T00"}, days=True)
    utc = [datetime(2026, 4, 30, 18, 30, tzinfo=UTC), datetime(2026, 4, 30, 19, tzinfo=UTC),
           datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 31, tzinfo=UTC), datetime(2026, 5, 31, 18, tzinfo=UTC),
           datetime(2026, 5, 31, 18, 30, tzinfo=UTC)]
    may10 = datetime(2026, 5, 10, tzinfo=UTC)
    assert cut.days == [(utc[2], may10), (may10 + timedelta(days=1), utc[3])]
    assert cut.hours == [(utc[1], utc[2]), (may10, may10 + timedelta(days=1)), (utc[3], utc[4])]
    assert cut.dirty == ["2026-05-10T07"]  # read raw, not from its day's hour rows
    assert cut.raw == [(utc[0], utc[1]), (utc[4], utc[5]), (may10 + timedelta(hours=7), may10 + timedelta(hours=8))]
    assert windows.split(start, end, None, days=True).raw == [(start, end)]  # never refreshed: all raw
    assert windows.split(start, end, set(), days=False).days == []  # a queue or a rubric: hours only


def test_a_refresh_rewrites_the_join_of_the_day_after_the_days_it_recomputes(db_url: str) -> None:
    """A call just before a midnight, added after the day after was refreshed: that day's stored join to
    the day before changes although none of its calls did, and calls per hour stays the raw figure."""
    r = random.Random(3)
    with dbmod.session() as s:
        ago = datetime.now(UTC) - timedelta(days=1)  # written a day ago: not in the next refresh's overlap
        _set(s, _call(s, 1, datetime(2026, 5, 25, 0, 20, tzinfo=UTC), r), agent_id="a7", team="t1", duration_s=600.0,
             created_at=ago, updated_at=ago)
        s.execute(sa.update(Evaluation).values(created_at=ago, updated_at=ago))
        s.execute(sa.update(Review).values(created_at=ago))
        s.execute(sa.update(CallMetricsRow).values(updated_at=ago))
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:  # ends at 00:05, 15 minutes before the refreshed day's first call
        _set(s, _call(s, 2, datetime(2026, 5, 24, 23, 55, tzinfo=UTC), r), agent_id="a7", team="t1", duration_s=600.0)
    with dbmod.session() as s:
        assert rollup.refresh(s).hours == 1  # the hour of the new call, not the day after
    t = day_shifts.c
    with dbmod.session() as s:
        row = s.execute(sa.select(day_shifts).where(t.day == "2026-05-25")).one()
        assert (row.join_s, row.join_past_first, row.crossed, row.reaches) == (900.0, 0, 0, 0)
        got = kpi_rows(s, SUP, start=datetime(2026, 5, 1, tzinfo=UTC), end=datetime(2026, 6, 1, tzinfo=UTC),
                       by=GroupBy.team, period=Period.month)
        one_shift = 2100 / 3600  # 23:55 to 00:30
        assert [(k.group, k.kpis.calls_per_hour) for k in got] == [("t1", pytest.approx(2 / one_shift))]
