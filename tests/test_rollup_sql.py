"""The set-based full refresh of the hour rollup (review_app/workflow/rollup_sql.py, PostgreSQL) writes
exactly the rows the Python path computes from the raw rows (``rollup.raw_rows``), over calls of several
tenants, days and hours, with reviews (several per call, scored or not), rescored and superseded
evaluations, evaluations of other rubrics, and call records whose JSON is odd in every way
``kpi_calls`` tolerates. The pages read from those rows equal the raw figures in UTC, Shanghai and
Kolkata windows, and the incremental refresh after it still counts each change once. The same for
``hour_repeats`` (storage/repeats_sql.py) against ``repeats.raw_rows``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import rollup, rollup_sql
from storage import db as dbmod
from storage import repeats
from storage.call_metrics import CallMetricsRow
from storage.calls import Call, CallStatus, Direction
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, supersede
from storage.repeats import HourRepeats
from storage.reviews import Review, Verdict
from storage.rollups import KEY, SUMS, HourStats
from tests.test_rollups import _assert_pages_equal_raw

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

T0 = datetime(2026, 5, 1, tzinfo=UTC)
# (item, critical): the FCR items (two of them in one rubric), the complaint item, critical items
ITEMS = (("greet", ""), ("no-abuse", "call"), ("id-check", "section"), ("resolved", ""), ("fcr", ""),
         ("complaint", ""))
ANSWERS = ("yes", "yes", "no", "n/a", "insufficient", "", None)
# what a call record's JSON may carry: every case kpi_calls reads, tolerates or skips
HOLDS: tuple[Any, ...] = ([[10.0, 40.0]], [[5, 65], [100, 90]], [], [[1, 2, 3], "x", [None, 4], [True, 9.5]],
                          "not a list", {"a": 1}, [[0.25, 0.75], [2, "3"]])
ACWS: tuple[Any, ...] = (42, 17.5, "30", " 12.5 ", "", "abc", True, False, [3], {"s": 1}, None, "1e2", ".5")
TAGS: tuple[Any, ...] = (["complaint"], ["Complaint", "x"], ["投诉"], ["billing"], [1, None], "complaint", [])


def _evaluation(s: Session, cid: str, r: random.Random, *, kind: EvaluationKind, rubric: str) -> Evaluation:
    total = None if r.random() < 0.05 else float(r.randrange(40, 100))
    ev = Evaluation(call_id=cid, rubric_id=rubric, rubric_version=1, kind=kind, total=total,
                    passed=None if total is None or r.random() < 0.05 else total >= 80,
                    evaluator="auto" if kind == EvaluationKind.auto else "qa", auto_submitted=r.random() < 0.7)
    s.add(ev)
    s.flush()
    assert ev.id is not None
    for item, critical in ITEMS:
        if r.random() < 0.15:
            continue  # a rubric without the item
        s.add(EvaluationItem(evaluation_id=ev.id, item_id=item, section_id="s", check_kind="rule", critical=critical,
                             points=10, auto_answer=r.choice(ANSWERS), human_answer=r.choice(ANSWERS),
                             final_answer=r.choice(ANSWERS) if kind == EvaluationKind.human else r.choice((None, ""))))
    return ev


def _review(s: Session, cid: str, r: random.Random) -> None:
    ev = _evaluation(s, cid, r, kind=EvaluationKind.human, rubric=r.choice(("default", "default", "sales")))
    score = None if r.random() < 0.15 else ev.total
    s.add(Review(call_id=cid, evaluation_id=ev.id or 0, inspector="qa", score=score,
                 verdict=r.choice((Verdict.passed, Verdict.failed, Verdict.retraining)),
                 passed=None if score is None or r.random() < 0.1 else score >= 80))


def _call(s: Session, n: int, when: datetime, r: random.Random, tenants: tuple[str, ...] = ("default",)) -> str:
    cid = f"x-{n:05d}"
    meta: dict[str, Any] = {}
    if r.random() < 0.6:
        meta["holds"] = r.choice(HOLDS)
    if r.random() < 0.6:
        meta["acw_s"] = r.choice(ACWS)
    if r.random() < 0.4:
        meta["tags"] = r.choice(TAGS)
    if r.random() < 0.1:
        meta["complaint"] = r.choice((True, False, "yes"))
    agent = r.randrange(8)
    inbound = r.random() < 0.7
    number = r.choice((f"+1555{r.randrange(30):04d}", "", None))
    s.add(Call(call_id=cid, tenant=r.choice(tenants), agent_id=None if agent == 7 else f"a{agent}",
               team=None if agent >= 6 else f"t{agent % 3}", queue=r.choice(("billing", "sales", None)),
               started_at=when, duration_s=r.choice((float(r.randrange(60, 900)), r.random() * 500, 0.0)),
               direction=Direction.inbound if inbound else Direction.outbound, caller=number if inbound else "+1800",
               callee="+1800" if inbound else number, codec="pcm_s16le", sample_rate=8000, channels=2,
               audio_key=f"k/{cid}.wav", size_bytes=1, sha256="0" * 64, status=CallStatus.scored, meta=meta))
    s.flush()
    if r.random() < 0.8:
        s.add(CallMetricsRow(call_id=cid, duration_s=100.0, non_talk_s=r.random() * 60, overtalk_s=r.random() * 9,
                             overtalk_count=r.randrange(3)))
    for _ in range(r.choice((0, 1, 1, 1, 2))):
        _evaluation(s, cid, r, kind=EvaluationKind.auto, rubric=r.choice(("default", "default", "other")))
    if r.random() < 0.3:  # a rescore: the newer auto-evaluation supersedes the older ones
        new = _evaluation(s, cid, r, kind=EvaluationKind.auto, rubric="default")
        assert new.id is not None
        supersede(s, cid, "auto", "auto", new.id)
    for _ in range(r.choice((0, 0, 0, 1, 1, 2))):
        _review(s, cid, r)
    if r.random() < 0.1:  # an inspector's evaluation superseded by a second one
        first = _evaluation(s, cid, r, kind=EvaluationKind.human, rubric="default")
        second = _evaluation(s, cid, r, kind=EvaluationKind.human, rubric="default")
        assert first.id is not None and second.id is not None
        supersede(s, cid, "human", "qa", second.id)
    return cid


def _world(s: Session, r: random.Random, n: int, tenants: tuple[str, ...] = ("default",)) -> None:
    """Calls over 40 days (two months) around the clock, written a day ago (older than the look-back)."""
    for i in range(n):
        _call(s, i, T0 + timedelta(seconds=r.randrange(40 * 86400)), r, tenants)
    ago = datetime.now(UTC) - timedelta(days=1)
    s.execute(sa.update(Call).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Evaluation).values(created_at=ago, updated_at=ago))
    s.execute(sa.update(Review).values(created_at=ago))
    s.execute(sa.update(CallMetricsRow).values(updated_at=ago))


def _stored(s: Session) -> dict[tuple[str, ...], dict[str, float]]:
    return {tuple(getattr(row, k) for k in KEY): {c: float(getattr(row, c)) for c in SUMS}
            for row in s.exec(select(HourStats))}


def _python_rows(s: Session) -> dict[tuple[str, ...], dict[str, float]]:
    """The rows the Python path computes from the raw rows (what a refresh on SQLite writes)."""
    return {k: {c: float(v[c]) for c in SUMS}
            for k, v in rollup.raw_rows(s, rollup._EVERYONE, T0 - timedelta(hours=1), T0 + timedelta(days=41)).items()}


def _assert_same(got: dict[tuple[str, ...], dict[str, float]], want: dict[tuple[str, ...], dict[str, float]]) -> None:
    assert sorted(got) == sorted(want)
    ints = {c for c in SUMS if HourStats.model_fields[c].annotation is int}
    for key, row in want.items():
        for c in SUMS:
            if c in ints:
                assert got[key][c] == row[c], (key, c)
            else:  # the same values, summed in another order
                assert got[key][c] == pytest.approx(row[c], rel=1e-12, abs=1e-9), (key, c)


def test_the_set_based_full_refresh_writes_every_row_the_python_path_computes(db_url: str) -> None:
    r = random.Random(2020)
    with dbmod.session() as s:
        _world(s, r, 500, ("default", "default", "acme"))
    with dbmod.session() as s:
        done = rollup.refresh(s, full=True)
    with dbmod.session() as s:
        got, want = _stored(s), _python_rows(s)
        # the world has what the test is about: several tenants, rubrics, both months, an odd acw_s
        assert {k[1] for k in want} == {"default", "acme"} and {k[5] for k in want} >= {"", "default", "other"}
        assert {k[0][:7] for k in want} == {"2026-05", "2026-06"}
        assert rollup_sql.odd_hours(s, T0, T0 + timedelta(days=41))
        assert done.rows == len(want) > 400
        _assert_same(got, want)
        # hour_repeats, set-based too (storage/repeats_sql.py): the rows repeats.raw_rows computes
        stored = {tuple(getattr(row, k) for k in repeats.KEY): {c: getattr(row, c) for c in repeats.COUNTS}
                  for row in s.exec(select(HourRepeats))}
        raw = repeats.raw_rows(s, T0 - timedelta(hours=1), T0 + timedelta(days=41))
        assert stored == raw and sum(v["repeat_team"] for v in raw.values()) > 0


def test_pages_read_from_the_set_based_rows_equal_the_raw_figures_in_three_time_zones(db_url: str) -> None:
    """One tenant: the raw reference (test_rollups._raw_kpis) counts repeat calls of any tenant."""
    with dbmod.session() as s:
        _world(s, random.Random(4), 200)
    with dbmod.session() as s:
        rollup.refresh(s, full=True)
    with dbmod.session() as s:
        _assert_same(_stored(s), _python_rows(s))
        _assert_pages_equal_raw(s)


def test_odd_hours_are_computed_by_the_python_path_and_the_rest_by_the_statement(db_url: str) -> None:
    """``"1_000"`` is 1000.0 to Python's float() and not a number to PostgreSQL: its hour is left to Python."""
    r = random.Random(7)
    with dbmod.session() as s:
        _world(s, r, 60)
        c = s.exec(select(Call).order_by(col(Call.started_at))).first()
        assert c is not None
        c.meta = {**c.meta, "acw_s": "1_000"}
        s.add(c)
        odd_hour = f"{c.started_at:%Y-%m-%dT%H}"
    with dbmod.session() as s:
        assert odd_hour in rollup_sql.odd_hours(s, T0, T0 + timedelta(days=41))
        s.execute(sa.delete(HourStats))
        written = rollup_sql.insert_rows(s, T0, T0 + timedelta(days=41), skip=[odd_hour])
        assert odd_hour not in {k[0] for k in _stored(s)}  # the statement left the hour alone
        assert written == len(_stored(s))
    with dbmod.session() as s:
        rollup.refresh(s, full=True)
    with dbmod.session() as s:
        got, want = _stored(s), _python_rows(s)
        assert sum(v["acw_s"] for k, v in got.items() if k[0] == odd_hour) >= 1000.0
        _assert_same(got, want)


def test_the_incremental_refresh_after_a_set_based_one_counts_each_change_once(db_url: str) -> None:
    r = random.Random(11)
    with dbmod.session() as s:
        _world(s, r, 150)
    with dbmod.session() as s:
        rollup.refresh(s)  # the first refresh: set-based
    with dbmod.session() as s:  # late changes: a new call in an old hour, a review, a rescore
        _call(s, 9000, T0 + timedelta(days=3, hours=5, minutes=7), r)
        old = s.exec(select(Call).order_by(col(Call.call_id))).first()
        assert old is not None
        _review(s, old.call_id, r)
        new = _evaluation(s, old.call_id, r, kind=EvaluationKind.auto, rubric="default")
        assert new.id is not None
        supersede(s, old.call_id, "auto", "auto", new.id)
    for _ in range(2):
        with dbmod.session() as s:
            rollup.refresh(s)
        with dbmod.session() as s:
            _assert_same(_stored(s), _python_rows(s))
            assert sum(v["calls"] for v in _stored(s).values()) == 151
