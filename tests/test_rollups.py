"""The day rollup equals the raw aggregate after every incremental refresh: each fact counted exactly once."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from storage import db as dbmod
from storage.calls import Call, CallStatus
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, supersede
from storage.reviews import Review, Verdict
from storage.rollups import DayStats, RollupState, refresh

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _call(s: Session, n: int, *, day: int, team: str | None, score: float | None, critical_no: bool = False) -> str:
    cid = f"r-{n:04d}"
    started = T0 + timedelta(days=day, minutes=7 * n)
    s.add(Call(call_id=cid, agent_id=f"a{n % 3}", team=team, queue="billing" if n % 2 else None, started_at=started,
               duration_s=60.0 + n, codec="pcm_s16le", sample_rate=8000, channels=2, audio_key=f"k/{cid}.wav",
               size_bytes=1, sha256="0" * 64, status=CallStatus.scored))
    s.flush()
    if score is not None:
        ev = Evaluation(call_id=cid, rubric_id="default", rubric_version=2, total=score, passed=score >= 80)
        s.add(ev)
        s.flush()
        assert ev.id is not None
        s.add(EvaluationItem(evaluation_id=ev.id, item_id="no-abuse", section_id="attitude", check_kind="forbidden",
                             critical="call", points=10, auto_answer="no" if critical_no else "yes"))
    return cid


def _review(s: Session, cid: str, score: float | None, verdict: Verdict) -> None:
    s.add(Review(call_id=cid, evaluation_id=0, inspector="qa", verdict=verdict, score=score,
                 passed=None if score is None else score >= 80))


def _raw(s: Session) -> dict[tuple[str, ...], dict[str, float]]:
    """The aggregate recomputed in Python from every raw row, for comparison."""
    out: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    calls = {c.call_id: c for c in s.exec(select(Call))}

    def key(c: Call) -> tuple[str, ...]:
        return (f"{c.started_at.astimezone(UTC):%Y-%m-%d}", c.tenant, c.team or "", c.agent_id or "", c.queue or "")

    for c in calls.values():
        out[key(c)]["calls"] += 1
        out[key(c)]["talk_s"] += c.duration_s
    for ev in s.exec(select(Evaluation).where(Evaluation.kind == EvaluationKind.auto, Evaluation.active == True)):  # noqa: E712
        row = out[key(calls[ev.call_id])]
        row["autos"] += 1
        row["auto_score_sum"] += ev.total or 0.0
        items = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id)).all()
        row["auto_critical_fails"] += any(i.critical and i.auto_answer == "no" for i in items)
    for r in s.exec(select(Review)):
        row = out[key(calls[r.call_id])]
        row["reviews"] += 1
        row["review_score_sum"] += r.score or 0.0
        row["review_passed"] += bool(r.passed)
        row["retraining"] += r.verdict == Verdict.retraining
    return {k: {f: v for f, v in d.items() if v} for k, d in out.items()}


def _rolled(s: Session) -> dict[tuple[str, ...], dict[str, float]]:
    fields = ("calls", "talk_s", "autos", "auto_score_sum", "auto_critical_fails", "reviews", "review_score_sum",
              "review_passed", "retraining")
    out = {}
    for r in s.exec(select(DayStats)):
        out[(r.day, r.tenant, r.team, r.agent_id, r.queue)] = {f: getattr(r, f) for f in fields if getattr(r, f)}
    return out


def test_day_rollup_equals_the_raw_aggregate_after_each_incremental_refresh(db_url: str) -> None:
    with dbmod.session() as s:
        ids = [_call(s, n, day=n % 5, team=f"t{n % 2}" if n % 4 else None, score=50.0 + n if n % 3 else None,
                     critical_no=n % 5 == 0) for n in range(30)]
        _review(s, ids[1], 90.0, Verdict.passed)
        _review(s, ids[2], 40.0, Verdict.retraining)
    with dbmod.session() as s:
        first = refresh(s)
    assert first.days == 5
    with dbmod.session() as s:
        assert _rolled(s) == _raw(s)
        assert sum(r.calls for r in s.exec(select(DayStats))) == 30
    # later: a review of an old call, a rescore superseding an auto-evaluation, new calls on old and new days
    with dbmod.session() as s:
        _review(s, ids[7], 85.0, Verdict.passed)
        _review(s, ids[7], 70.0, Verdict.failed)  # a second review of the same call counts as a second review
        new = Evaluation(call_id=ids[4], rubric_id="default", rubric_version=2, total=99.0, passed=True)
        s.add(new)
        s.flush()
        assert new.id is not None
        supersede(s, ids[4], "auto", "auto", new.id)
        _call(s, 100, day=2, team="t1", score=77.0)
        _call(s, 101, day=9, team="t0", score=None)
    for _ in range(3):  # refreshing again and again recomputes days, never adds to them
        with dbmod.session() as s:
            refresh(s)
        with dbmod.session() as s:
            assert _rolled(s) == _raw(s)
            assert sum(r.calls for r in s.exec(select(DayStats))) == 32
            assert sum(r.reviews for r in s.exec(select(DayStats))) == 4


def test_refresh_moves_the_watermark_forward_and_sees_only_touched_days(db_url: str) -> None:
    with dbmod.session() as s:
        ids = [_call(s, n, day=n, team="t0", score=80.0) for n in range(4)]
    now = datetime.now(UTC)
    with dbmod.session() as s:
        refresh(s, now=now)
    with dbmod.session() as s:
        state = s.get(RollupState, "day_stats")
        assert state is not None and state.watermark == now
    with dbmod.session() as s:
        _review(s, ids[3], 60.0, Verdict.failed)
    later = now + timedelta(minutes=1)
    with dbmod.session() as s:
        again = refresh(s, now=later)
    # the four calls were written within the look-back, so their days are recomputed too; never more days
    assert again.days <= 4 and again.watermark == later
    with dbmod.session() as s:
        assert _rolled(s) == _raw(s)


def test_refresh_of_an_empty_database_writes_nothing(db_url: str) -> None:
    with dbmod.session() as s:
        done = refresh(s)
    assert (done.days, done.rows) == (0, 0)


def test_rollup_command_refreshes_and_says_how_much(sqlite_db: str) -> None:
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "callqc", "db", "rollup"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("rollup: 0 days recomputed (0 rows), watermark ")
