"""The KPI page's repeat-call FCR and calls per hour, read from the repeat rollup (storage/repeats.py) and
aggregated in the database (shifts.py), equal the figures computed from the raw call rows for every
kind of viewer (admin, tenant, one team, several teams, another tenant), for windows across a month's edge
and in UTC, +08:00 and +05:30 days: before any refresh, after one, when a late call turns calls of
an already refreshed month into repeat-followed ones, and after refreshing again (SQLite and
PostgreSQL). The monthly report's item counts, read from the item rollup (storage/item_stats.py), equal
the counted evaluations' answers the same way. Refreshing recomputes hours, never adds to them."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import rollup
from review_app.workflow.kpis import GroupBy, Period, kpi_rows, period_key
from scoring.kpi import KpiCall, calls_per_hour, first_contact_resolved
from storage import db as dbmod
from storage import item_stats, repeats
from storage.access import may_see
from storage.calls import Call, CallStatus, Direction
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, supersede
from storage.item_stats import HourItems
from storage.repeats import DayRepeats, HourRepeats
from storage.reviews import Review
from storage.settings import get_settings
from storage.users import Principal, Role

T0 = datetime(2026, 5, 24, tzinfo=UTC)  # the calls run from late May into June: repeats cross the month's edge
VIEWERS = (
    Principal("admin", Role.admin),
    Principal("sup", Role.supervisor),
    Principal("sup-t1", Role.supervisor, team="t1"),
    Principal("sup-t0-t2", Role.supervisor, team="t0", also_teams=("t2",)),  # several teams: read raw
    Principal("sup-b", Role.supervisor, tenant="other"),
)


def _call(s: Session, n: int, when: datetime, r: random.Random, *, number: str | None = None,
          tenant: str = "default") -> str:
    cid = f"r-{n:05d}"
    agent = r.randrange(7)
    inbound = r.random() < 0.7
    number = number or r.choice((f"+1555{r.randrange(20):04d}", "", None))
    s.add(Call(call_id=cid, tenant=tenant if r.random() < 0.9 else "other", agent_id=f"a{agent}",
               team=None if agent == 6 else f"t{agent % 3}", queue=r.choice(("billing", "sales", None)),
               started_at=when, duration_s=float(r.randrange(60, 1500)),
               direction=Direction.inbound if inbound else Direction.outbound,
               caller=number if inbound else "+1800", callee="+1800" if inbound else number, codec="pcm_s16le",
               sample_rate=8000, channels=2, audio_key=f"k/{cid}.wav", size_bytes=1, sha256="0" * 64,
               status=CallStatus.scored))
    return cid


def _world(s: Session, r: random.Random, n: int) -> None:
    """Calls around the clock for 16 days (shifts cross midnights), written a day ago (older than the
    refresh's look-back), with a small pool of numbers so customers call again, across teams and tenants."""
    for i in range(n):
        _call(s, i, T0 + timedelta(minutes=r.randrange(16 * 24 * 60)), r)
    s.flush()
    ago = datetime.now(UTC) - timedelta(days=1)
    s.execute(sa.update(Call).values(created_at=ago, updated_at=ago))


def _raw(s: Session, who: Principal, start: datetime, end: datetime, by: GroupBy, period: Period,
         team: str | None = None) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """(calls per hour, FCR rate) per (group, period) from the call rows alone, as scoring/kpi.py defines them."""
    st = get_settings()
    seen = [c for c in s.exec(select(Call)) if may_see(who, c)]
    later: dict[str, list[datetime]] = defaultdict(list)
    groups: dict[tuple[str, str], list[KpiCall]] = defaultdict(list)
    for c in seen:
        number = c.callee if c.direction == Direction.outbound else c.caller
        if number:
            later[number].append(c.started_at)
        if start <= c.started_at < end and (team is None or c.team == team):
            name = {GroupBy.agent: c.agent_id, GroupBy.team: c.team, GroupBy.queue: c.queue, GroupBy.all: "*"}[by]
            groups[(name or "-", period_key(c.started_at, period))].append(
                KpiCall(call_id=c.call_id, started_at=c.started_at, duration_s=c.duration_s, agent_id=c.agent_id,
                        customer=number))
    starts = {k: sorted(v) for k, v in later.items()}
    out = {}
    for key, cs in groups.items():
        fcr = first_contact_resolved(cs, starts, fcr_days=st.fcr_days)
        out[key] = (calls_per_hour(cs, shift_gap_s=st.shift_gap_min * 60), 100.0 * sum(fcr) / len(fcr) if fcr else None)
    return out


def _windows() -> list[tuple[datetime, datetime]]:
    """May 28 - June 4 (the month's edge inside) in UTC, Shanghai (+08:00) and Kolkata (+05:30: part hours)."""
    return [(datetime(2026, 5, 28, tzinfo=ZoneInfo(z)), datetime(2026, 6, 4, tzinfo=ZoneInfo(z)))
            for z in ("UTC", "Asia/Shanghai", "Asia/Kolkata")]


def _assert_equal_raw(s: Session) -> int:
    compared = 0
    for start, end in _windows():
        for who in VIEWERS:
            for by, period, team in ((GroupBy.agent, Period.day, None), (GroupBy.team, Period.month, None),
                                     (GroupBy.queue, Period.week, None), (GroupBy.all, Period.day, None),
                                     (GroupBy.agent, Period.month, "t1")):
                got = {(r.group, r.period): (r.kpis.calls_per_hour, r.kpis.fcr_rate)
                       for r in kpi_rows(s, who, start=start, end=end, by=by, period=period, team=team)}
                want = _raw(s, who, start, end, by, period, team)
                assert got.keys() == want.keys(), (who.name, by, period)
                for key, figures in want.items():
                    for a, b in zip(got[key], figures, strict=True):
                        assert (a is None) == (b is None) and (b is None or a == pytest.approx(b)), (who.name, key)
                compared += len(got)
    return compared


def _stored_equals_raw(s: Session) -> None:
    stored = {(h.hour, h.tenant, h.team, h.agent_id, h.queue): {c: getattr(h, c) for c in repeats.COUNTS}
              for h in s.exec(select(HourRepeats))}
    assert stored == repeats.raw_rows(s, T0 - timedelta(days=1), T0 + timedelta(days=40))


def test_fcr_and_calls_per_hour_equal_the_raw_figures_for_every_viewer_across_refreshes_and_late_calls(
        db_url: str) -> None:
    r = random.Random(33)
    with dbmod.session() as s:
        _world(s, r, 260)
    with dbmod.session() as s:  # never refreshed: from the call rows
        assert _assert_equal_raw(s) > 100
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        _stored_equals_raw(s)
        _assert_equal_raw(s)
        # late calls, not refreshed yet: numbers that called in late May call again on June 1, so May's
        # refreshed hours change (their calls become repeat-followed); one joins another team's number
        before = {(h.hour, h.tenant, h.team, h.agent_id, h.queue): h.repeat_tenant for h in s.exec(select(HourRepeats))}
        may = [c for c in s.exec(select(Call).where(col(Call.started_at) < datetime(2026, 6, 1, tzinfo=UTC),
                                                    col(Call.started_at) >= datetime(2026, 5, 29, tzinfo=UTC)))
               if c.tenant == "default" and c.direction == Direction.inbound and c.caller]
        for i, c in enumerate(may[:6]):
            _call(s, 900 + i, datetime(2026, 6, 1, 0, 20 + i, tzinfo=UTC), random.Random(i), number=c.caller)
    with dbmod.session() as s:
        _assert_equal_raw(s)
        assert repeats.raw_rows(s, T0, T0 + timedelta(days=40)) != {
            k: {c: getattr(h, c) for c in repeats.COUNTS} for h in s.exec(select(HourRepeats))
            for k in [(h.hour, h.tenant, h.team, h.agent_id, h.queue)]}  # the stored rows are behind
    for _ in range(2):  # refreshing again and again recomputes the touched hours, never adds to them
        with dbmod.session() as s:
            rollup.refresh(s)
        with dbmod.session() as s:
            _stored_equals_raw(s)
            _assert_equal_raw(s)
            rows = list(s.exec(select(HourRepeats)))
            known = sum(1 for c in s.exec(select(Call))
                        if (c.callee if c.direction == Direction.outbound else c.caller))
            assert sum(h.fcr_known for h in rows) == known
            after = {(h.hour, h.tenant, h.team, h.agent_id, h.queue): h.repeat_tenant for h in rows}
            assert sum(after.values()) > sum(before.values())


def test_the_fcr_rate_comes_from_the_stored_rows_once_refreshed(db_url: str) -> None:
    """What makes the page fast: after a refresh the repeat counts are read from day_repeats and hour_repeats."""
    with dbmod.session() as s:
        _world(s, random.Random(4), 120)
    with dbmod.session() as s:
        rollup.refresh(s)
    window = {"start": T0, "end": T0 + timedelta(days=20), "by": GroupBy.all, "period": Period.month}
    sup = VIEWERS[1]
    with dbmod.session() as s:
        first = [r.kpis.fcr_rate for r in kpi_rows(s, sup, **window)]
        for table in (HourRepeats, DayRepeats):  # every call repeat-followed: rate 0 (whole days: the day rows)
            s.execute(sa.update(table).where(col(table.tenant) == "default").values(repeat_tenant=table.fcr_known))
    with dbmod.session() as s:
        rates = [r.kpis.fcr_rate for r in kpi_rows(s, sup, **window)]
    assert len(first) == 2 and all(rate is not None and rate > 0 for rate in first)  # May and June
    assert rates == [0.0, 0.0]


def test_rebuild_fills_every_hour_as_the_migration_does(db_url: str) -> None:
    with dbmod.session() as s:
        _world(s, random.Random(8), 150)
    with dbmod.session() as s:
        written = repeats.rebuild(s)
    with dbmod.session() as s:
        assert written == len(list(s.exec(select(HourRepeats)))) > 0
        _stored_equals_raw(s)
        assert repeats.rebuild(s) == written  # again: the same rows, not twice as many


def _raw_items(s: Session, who: Principal, start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, int]]:
    """(answered, yes) per (team, item) of the counted evaluations, from the ORM rows one by one."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in s.exec(select(Call).where(col(Call.started_at) >= start, col(Call.started_at) < end)):
        if not may_see(who, c):
            continue
        review = s.exec(select(Review).where(Review.call_id == c.call_id).order_by(col(Review.id).desc())).first()
        ev = review.evaluation_id if review else s.exec(select(Evaluation.id).where(
            Evaluation.call_id == c.call_id, Evaluation.kind == EvaluationKind.auto,
            col(Evaluation.active).is_(True), col(Evaluation.auto_submitted).is_(True))).first()
        for it in s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev)) if ev else ():
            answer = it.final_answer or it.human_answer or it.auto_answer
            if answer in ("yes", "no"):
                acc = out[(c.team or "-", it.item_id)]
                acc[0] += 1
                acc[1] += answer == "yes"
    return {k: (n, yes) for k, (n, yes) in out.items()}


def test_report_item_counts_from_the_item_rollup_equal_the_raw_answers_across_refreshes_and_late_reviews(
        db_url: str) -> None:
    from tests.test_rollups import T0 as MAY
    from tests.test_rollups import _evaluation, _review
    from tests.test_rollups import _world as scored_world

    r = random.Random(12)
    with dbmod.session() as s:
        ids = scored_world(s, r, 90, MAY, 9)
    windows = [(datetime(2026, 5, 3, tzinfo=ZoneInfo(z)), datetime(2026, 5, 10, tzinfo=ZoneInfo(z)))
               for z in ("UTC", "Asia/Kolkata")]

    def check() -> None:
        with dbmod.session() as s:
            for start, end in windows:
                for who in VIEWERS[:4]:
                    assert item_stats.window_counts(s, who, start, end) == _raw_items(s, who, start, end)
                got = item_stats.window_counts(s, VIEWERS[1], start, end, team="t1")
                assert got == {k: v for k, v in _raw_items(s, VIEWERS[1], start, end).items() if k[0] == "t1"}

    check()  # never refreshed
    with dbmod.session() as s:
        rollup.refresh(s)
    check()
    with dbmod.session() as s:  # late: a review of an old call, a rescore; not refreshed
        _review(s, ids[3], r)
        new = _evaluation(s, ids[5], r)
        assert new.id is not None
        supersede(s, ids[5], "auto", "auto", new.id)
    check()
    for _ in range(2):
        with dbmod.session() as s:
            rollup.refresh(s)
        check()
        with dbmod.session() as s:
            stored = sum(h.answered for h in s.exec(select(HourItems)))
            everything = (MAY - timedelta(days=1), MAY + timedelta(days=12))
            assert stored == sum(n for n, _ in _raw_items(s, VIEWERS[0], *everything).values())
