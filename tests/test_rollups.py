"""The pages' rollup-backed figures equal the figures computed from the raw rows (SQLite and PostgreSQL):
before any refresh, after one, with late arrivals and edits not yet refreshed (the live tail), after
refreshing again; for UTC, whole-hour and half-hour time zones' windows. Refreshing counts each
fact once, however often it runs, and a refresh that lost the race raises."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import dashboard, evalview, rollup
from review_app.workflow.agent_summary import summary
from review_app.workflow.kpi_calls import FCR_ITEMS, load_calls
from review_app.workflow.kpis import GroupBy, Period, kpi_rows, period_key
from scoring.kpi import KpiCall, compute
from storage import db as dbmod
from storage.call_metrics import CallMetricsRow
from storage.calls import Call, CallStatus, Direction
from storage.day_rollups import day_stats
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, supersede
from storage.reviews import Review, Verdict
from storage.rollups import HourStats, RollupMoved, RollupState, lock_state, move_watermark
from storage.settings import get_settings
from storage.users import Principal, Role

T0 = datetime(2026, 5, 1, tzinfo=UTC)
SUP = Principal("sup", Role.supervisor)
TEAM_SUP = Principal("sup-t1", Role.supervisor, team="t1")
ITEMS = (("greet", ""), ("no-abuse", "call"), ("resolved", ""), ("complaint", ""))


def _evaluation(s: Session, cid: str, r: random.Random, *, kind: EvaluationKind = EvaluationKind.auto,
                rubric: str = "default") -> Evaluation:
    total = float(r.randrange(40, 100))
    ev = Evaluation(call_id=cid, rubric_id=rubric, rubric_version=1, kind=kind, total=total, passed=total >= 80,
                    evaluator="auto" if kind == EvaluationKind.auto else "qa", auto_submitted=r.random() < 0.7)
    s.add(ev)
    s.flush()
    assert ev.id is not None
    for item, critical in ITEMS:
        answer = r.choice(("yes", "yes", "no", "n/a"))
        s.add(EvaluationItem(evaluation_id=ev.id, item_id=item, section_id="s", check_kind="rule", critical=critical,
                             points=10, auto_answer=answer,
                             final_answer=r.choice(("yes", "no")) if kind == EvaluationKind.human else None))
    return ev


def _review(s: Session, cid: str, r: random.Random) -> None:
    ev = _evaluation(s, cid, r, kind=EvaluationKind.human)
    score = None if r.random() < 0.1 else ev.total
    s.add(Review(call_id=cid, evaluation_id=ev.id or 0, inspector="qa", score=score,
                 verdict=r.choice((Verdict.passed, Verdict.failed, Verdict.retraining)),
                 passed=None if score is None else score >= 80))


def _call(s: Session, n: int, when: datetime, r: random.Random) -> str:
    cid = f"c-{n:05d}"
    meta: dict = {}
    if r.random() < 0.5:
        meta["holds"] = [[10.0, 10.0 + r.randrange(5, 60)]]
    if r.random() < 0.5:
        meta["acw_s"] = r.randrange(5, 90)
    if r.random() < 0.3:
        meta["tags"] = ["complaint"] if r.random() < 0.5 else ["billing"]
    agent = r.randrange(6)
    inbound = r.random() < 0.7
    number = f"+1555{r.randrange(25):04d}"
    s.add(Call(call_id=cid, agent_id=f"a{agent}", team=None if agent == 5 else f"t{agent % 2}",
               queue=r.choice(("billing", "sales", None)), started_at=when, duration_s=float(r.randrange(60, 900)),
               direction=Direction.inbound if inbound else Direction.outbound, caller=number if inbound else "+1800",
               callee="+1800" if inbound else number, codec="pcm_s16le", sample_rate=8000, channels=2,
               audio_key=f"k/{cid}.wav", size_bytes=1, sha256="0" * 64, status=CallStatus.scored, meta=meta))
    s.flush()
    if r.random() < 0.8:
        s.add(CallMetricsRow(call_id=cid, duration_s=100.0, non_talk_s=float(r.randrange(0, 60)),
                             overtalk_s=float(r.randrange(0, 9)), overtalk_count=r.randrange(3)))
    if r.random() < 0.85:
        _evaluation(s, cid, r)
    if r.random() < 0.25:
        _review(s, cid, r)
        if r.random() < 0.3:
            _review(s, cid, r)  # a second review: the newest one counts for the KPIs, both for the dashboard
    return cid


def _world(s: Session, r: random.Random, n: int, start: datetime, days: int) -> list[str]:
    """Calls around the clock (every window edge cuts through calls and shifts), written a day ago: rows
    older than the refresh's look-back, as in a database in use (else every hour is still live)."""
    ids = [_call(s, i, start + timedelta(minutes=r.randrange(days * 24 * 60)), r) for i in range(n)]
    ago = datetime.now(UTC) - timedelta(days=1)
    s.execute(sa.update(Call).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Evaluation).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Review).values(created_at=ago))
    s.execute(sa.update(CallMetricsRow).values(updated_at=ago))
    return ids


def _raw_kpis(s: Session, who: Principal, start: datetime, end: datetime, by: GroupBy, period: Period,
              team: str | None = None) -> list[tuple[str, str, object]]:
    """kpi_rows computed from the raw rows alone (its implementation before the rollup)."""
    st = get_settings()
    loaded = load_calls(s, who, start=start, end=end, team=team)
    later: dict[str, list[datetime]] = defaultdict(list)
    for c in s.exec(select(Call).where(col(Call.started_at) >= start,
                                       col(Call.started_at) < end + timedelta(days=st.fcr_days))):
        number = c.callee if c.direction == Direction.outbound else c.caller
        if number and (who.team is None or c.team == who.team):
            later[number].append(c.started_at)
    groups: dict[tuple[str, str], list[KpiCall]] = defaultdict(list)
    for c, k in loaded:
        name = {GroupBy.agent: c.agent_id, GroupBy.team: c.team, GroupBy.queue: c.queue, GroupBy.all: "*"}[by]
        groups[(period_key(c.started_at, period), name or "-")].append(k)
    starts = {k: sorted(v) for k, v in later.items()}
    return [(g, p, compute(cs, starts, fcr_days=st.fcr_days, shift_gap_s=st.shift_gap_min * 60))
            for (p, g), cs in sorted(groups.items())]


def _raw_dashboard(s: Session, start: datetime, end: datetime, team: str | None) -> dict[str, object]:
    calls = [c for c in s.exec(select(Call).where(col(Call.started_at) >= start, col(Call.started_at) < end))
             if team is None or c.team == team]
    ids = [c.call_id for c in calls]
    reviews = [rv for rv in s.exec(select(Review)) if rv.call_id in set(ids)]
    scores = [rv.score for rv in reviews if rv.score is not None]
    passed = [rv.passed for rv in reviews if rv.passed is not None]
    autos = evalview.auto_summaries(s, ids)
    fcr = [a for a in evalview.final_answers(s, [rv.call_id for rv in reviews], FCR_ITEMS) if a in ("yes", "no")]
    return {"calls": len(calls), "reviewed": len(reviews),
            "monitoring_score": round(sum(scores) / len(scores), 1) if scores else None,
            "pass_rate": round(100 * sum(passed) / len(passed), 1) if passed else None,
            "retraining": sum(rv.verdict == Verdict.retraining for rv in reviews),
            "critical_fail_rate": round(100 * sum(a.critical_fail for a in autos.values()) / len(autos), 1)
            if autos else None,
            "avg_talk_s": round(sum(c.duration_s for c in calls) / len(calls), 1) if calls else None,
            "fcr_rate": round(100 * fcr.count("yes") / len(fcr), 1) if fcr else None}


def _windows() -> list[tuple[datetime, datetime]]:
    """May 3-10 in UTC, in Shanghai (+08:00: whole hours) and Kolkata (+05:30: edges inside an hour)."""
    out = []
    for zone in ("UTC", "Asia/Shanghai", "Asia/Kolkata"):
        z = ZoneInfo(zone)
        out.append((datetime(2026, 5, 3, tzinfo=z), datetime(2026, 5, 10, tzinfo=z)))
    return out


def _assert_pages_equal_raw(s: Session) -> None:
    for start, end in _windows():
        for by, period in ((GroupBy.agent, Period.day), (GroupBy.team, Period.month), (GroupBy.queue, Period.week),
                           (GroupBy.all, Period.day)):
            got = [(r.group, r.period, r.kpis) for r in kpi_rows(s, SUP, start=start, end=end, by=by, period=period)]
            want = _raw_kpis(s, SUP, start, end, by, period)
            assert [g[:2] for g in got] == [w[:2] for w in want]
            for (_, _, k), (_, _, ref) in zip(got, want, strict=True):
                assert vars(k) == pytest.approx(vars(ref)), (by, period)
        team_rows = kpi_rows(s, TEAM_SUP, start=start, end=end, by=GroupBy.agent, period=Period.month, team="t1")
        want = _raw_kpis(s, TEAM_SUP, start, end, GroupBy.agent, Period.month, team="t1")
        assert [vars(r.kpis) for r in team_rows] == [pytest.approx(vars(w[2])) for w in want]
        for team in (None, "t0"):
            k = dashboard.kpis(s, SUP, start=start, end=end, team=team)
            assert vars(k) == pytest.approx(_raw_dashboard(s, start, end, team))
            for by in ("team", "agent", "queue"):  # the page's one read gives the same tiles and trend
                both = dashboard.tiles_and_trend(s, SUP, start=start, end=end, by=by, team=team)
                assert both == (k, dashboard.score_trend(s, SUP, start=start, end=end, by=by, team=team))


def _rolled_equals_raw(s: Session) -> None:
    stored: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in s.exec(select(HourStats)):
        key = (row.hour, row.tenant, row.team, row.agent_id, row.queue, row.rubric_id)
        stored[key] = {c: float(getattr(row, c)) for c in rollup.SUMS}
    first = min(c.started_at for c in s.exec(select(Call)))
    raw = rollup.raw_rows(s, rollup._EVERYONE, first - timedelta(hours=1), first + timedelta(days=40))
    assert {k: pytest.approx(v) for k, v in raw.items()} == dict(stored)


def test_page_figures_from_the_rollup_equal_the_raw_figures_before_and_after_refreshes_and_late_changes(
        db_url: str) -> None:
    r = random.Random(20)
    with dbmod.session() as s:
        ids = _world(s, r, 80, T0, 9)
    with dbmod.session() as s:  # never refreshed: every figure from the raw rows
        _assert_pages_equal_raw(s)
    with dbmod.session() as s:
        done = rollup.refresh(s)
    assert done.rows > 0
    with dbmod.session() as s:
        _rolled_equals_raw(s)
        _assert_pages_equal_raw(s)
    # late arrivals and edits, not refreshed yet: a call ingested late into an old hour, a review of an old
    # call, a rescore superseding an auto-evaluation, metrics computed again
    with dbmod.session() as s:
        _call(s, 900, T0 + timedelta(days=4, hours=7, minutes=31), r)
        _review(s, ids[3], r)
        new = _evaluation(s, ids[5], r)
        assert new.id is not None
        supersede(s, ids[5], "auto", "auto", new.id)
        m = s.get(CallMetricsRow, ids[8]) or CallMetricsRow(call_id=ids[8])
        m.non_talk_s, m.updated_at = 77.0, datetime.now(UTC)
        s.add(m)
    with dbmod.session() as s:
        _assert_pages_equal_raw(s)
    for _ in range(2):  # refreshing again and again recomputes hours, never adds to them
        with dbmod.session() as s:
            rollup.refresh(s)
        with dbmod.session() as s:
            _rolled_equals_raw(s)
            _assert_pages_equal_raw(s)
            assert sum(h.calls for h in s.exec(select(HourStats))) == 81


def test_pages_read_the_rollup_rows_once_refreshed(db_url: str) -> None:
    """What makes the pages fast: after a refresh the sums come from the day rows for whole UTC days and
    from hour_stats for whole hours, not from the calls."""
    with dbmod.session() as s:
        _world(s, random.Random(9), 30, T0, 2)
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        row = s.exec(select(HourStats).order_by(col(HourStats.hour))).first()
        assert row is not None
        hour = datetime.strptime(row.hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        days = {"start": T0, "end": T0 + timedelta(days=3)}
        one_hour = {"start": hour, "end": hour + timedelta(hours=1)}
        before = {k: dashboard.kpis(s, SUP, **w).calls for k, w in (("days", days), ("hour", one_hour))}
        row.calls += 1000  # rows the pages would not notice if they read the calls
        s.add(row)
        s.execute(sa.update(day_stats).where(day_stats.c.day == row.hour[:10], day_stats.c.agent_id == row.agent_id)
                  .values(calls=day_stats.c.calls + 2000))
    with dbmod.session() as s:
        assert dashboard.kpis(s, SUP, **one_hour).calls == before["hour"] + 1000
        assert dashboard.kpis(s, SUP, **days).calls == before["days"] + 2000
        assert sum(r.kpis.calls for r in kpi_rows(s, SUP, by=GroupBy.all, **days)) == before["days"] + 2000


def test_scorecard_team_score_from_the_rollup_equals_the_team_calls_counted_scores(db_url: str) -> None:
    r = random.Random(3)
    with dbmod.session() as s:
        _world(s, r, 80, T0, 20)
        late = _evaluation(s, "c-00001", r, rubric="other")  # another rubric: never in the team figure
        assert late.id is not None
        supersede(s, "c-00001", "auto", "auto", late.id)
    now = T0 + timedelta(days=20, minutes=17)
    for refreshed in (False, True):
        if refreshed:
            with dbmod.session() as s:
                rollup.refresh(s)
        with dbmod.session() as s:
            agent = Principal("agent-a1", Role.agent, agent_id="a1")
            got = summary(s, agent, "a1", now=now)
            assert got.team == "t1"
            scores = []
            for c, k in load_calls(s, SUP, start=now - timedelta(days=30), end=now, team="t1"):
                rv = s.exec(select(Review).where(Review.call_id == c.call_id).order_by(col(Review.id).desc())).first()
                ev_id = rv.evaluation_id if rv else s.exec(select(Evaluation.id).where(
                    Evaluation.call_id == c.call_id, Evaluation.kind == EvaluationKind.auto,
                    col(Evaluation.active).is_(True), col(Evaluation.auto_submitted).is_(True))).first()
                ev = s.get(Evaluation, ev_id) if ev_id is not None else None
                if k.score is not None and ev is not None and ev.rubric_id == "default":
                    scores.append(k.score)
            assert scores and got.team_score == round(sum(scores) / len(scores), 1)


def test_a_refresh_that_lost_the_race_raises_and_writes_nothing(db_url: str) -> None:
    with dbmod.session() as s:
        _world(s, random.Random(5), 10, T0, 2)
    with dbmod.session() as s:
        rollup.refresh(s)
    with dbmod.session() as s:
        state = lock_state(s)
        stale = state.watermark
        assert stale is not None
    with dbmod.session() as s:
        rollup.refresh(s, now=datetime.now(UTC) + timedelta(seconds=5))  # another refresher moves it
    with pytest.raises(RollupMoved), dbmod.session() as s:
        move_watermark(s, stale, datetime.now(UTC))
    with dbmod.session() as s:
        assert s.get(RollupState, "hour_stats").watermark != stale  # type: ignore[union-attr]


def test_refresh_of_an_empty_database_writes_nothing(db_url: str) -> None:
    with dbmod.session() as s:
        done = rollup.refresh(s)
    assert (done.hours, done.rows) == (0, 0)


def test_rollup_command_refreshes_and_says_how_much(sqlite_db: str) -> None:
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "callqc", "db", "rollup", "--all"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("rollup: 0 hours recomputed (0 rows), watermark ")
