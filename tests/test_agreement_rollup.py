"""The dashboard's AI-vs-human agreement from the agreement rollup equals the agreement computed from the
raw answers (SQLite and PostgreSQL): before any refresh, after one, with new reviews, a second review and
a supersede not yet refreshed, and after refreshing again; for windows starting at midnight and inside a
day. Refreshing counts each pair once however often it runs."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from review_app.workflow import dashboard
from scoring import agreement_rollup
from scoring.agreement import agreement_of, item_agreements, reviewed_pairs
from storage import db as dbmod
from storage.agreement_days import AgreementDay
from storage.calls import Call, CallStatus
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource, supersede
from storage.settings import get_settings
from storage.users import Principal, Role

T0 = datetime(2026, 5, 1, tzinfo=UTC)
ITEMS = ("greet", "verify", "resolved")


def _evaluation(s: Session, cid: str, r: random.Random, when: datetime, kind: EvaluationKind,
                evaluator: str) -> Evaluation:
    ev = Evaluation(call_id=cid, rubric_id="default", rubric_version=1, kind=kind, evaluator=evaluator, total=80.0,
                    created_at=when, updated_at=when)
    s.add(ev)
    s.flush()
    assert ev.id is not None
    for item in ITEMS:
        auto = r.choice(("yes", "yes", "no", "n/a", "insufficient", None))
        human = kind == EvaluationKind.human or r.random() < 0.1  # now and then an auto evaluation confirmed
        final = r.choice(("yes", "no", "n/a")) if human and r.random() < 0.9 else None
        s.add(EvaluationItem(evaluation_id=ev.id, item_id=item, section_id="s", check_kind="rule", points=10,
                             auto_answer=auto, final_answer=final,
                             final_source=FinalSource.human if final is not None else None))
    return ev


def _review(s: Session, cid: str, r: random.Random, when: datetime, inspector: str = "qa") -> Evaluation:
    ev = _evaluation(s, cid, r, when, EvaluationKind.human, inspector)
    assert ev.id is not None
    supersede(s, cid, "human", inspector, ev.id)  # bumps the older one's updated_at to now
    return ev


def _world(s: Session, r: random.Random, n: int) -> list[str]:
    ids = []
    for i in range(n):
        cid = f"c-{i:04d}"
        when = T0 + timedelta(minutes=r.randrange(20 * 24 * 60))
        s.add(Call(call_id=cid, agent_id="a1", team="t1", started_at=when, duration_s=60.0, codec="pcm_s16le",
                   sample_rate=8000, channels=2, audio_key=f"k/{cid}", size_bytes=1, sha256="0" * 64,
                   status=CallStatus.scored))
        s.flush()
        _evaluation(s, cid, r, when + timedelta(minutes=5), EvaluationKind.auto, "auto")
        if r.random() < 0.6:
            _evaluation(s, cid, r, when + timedelta(hours=r.randrange(1, 72)), EvaluationKind.human, "qa1")
            if r.random() < 0.4:  # a second inspector, later or (timestamps moved) earlier
                _evaluation(s, cid, r, when + timedelta(hours=r.randrange(-24, 96)), EvaluationKind.human, "qa2")
            if r.random() < 0.2:  # the first inspector's evaluation touched again after the second one
                s.execute(sa.update(Evaluation).where(Evaluation.call_id == cid, Evaluation.evaluator == "qa1")
                          .values(updated_at=when + timedelta(days=r.randrange(4, 9))))
        ids.append(cid)
    return ids


def _raw(s: Session, since: datetime) -> list:
    st = get_settings()
    return [agreement_of(k, v, kappa_bar=st.auto_submit_kappa, min_reviews=st.auto_submit_min_reviews)
            for k, v in sorted(reviewed_pairs(s, since=since).items())]


def _windows() -> list[tuple[datetime, int]]:
    """(end, days): windows starting at midnight UTC, inside a day (+05:30), and before every answer."""
    return [(T0 + timedelta(days=10), 7), (T0 + timedelta(days=12, hours=18, minutes=30), 5),
            (T0 + timedelta(days=30), 29), (T0 + timedelta(days=3, hours=7), 90)]


def _assert_equal_raw(s: Session) -> None:
    for end, days in _windows():
        got = item_agreements(s, now=end, days=days)
        assert got == _raw(s, end - timedelta(days=days)), (end, days)
        assert any(a.reviewed for a in got)


def _stored_equal_raw(s: Session) -> None:
    stored = {(d.day, d.lo_day, d.tenant, d.team, (d.item_id, d.auto_answer, d.final_answer)): d.n
              for d in s.exec(select(AgreementDay))}
    got = agreement_rollup.raw_counts(s, T0 - timedelta(days=2), None)
    assert dict(got.counts) == stored


def test_agreement_from_the_rollup_equals_the_raw_pairs_before_and_after_refreshes_and_late_reviews(
        db_url: str) -> None:
    r = random.Random(11)
    with dbmod.session() as s:
        ids = _world(s, r, 120)
    with dbmod.session() as s:  # never refreshed: every pair from the raw rows
        _assert_equal_raw(s)
    with dbmod.session() as s:
        done = agreement_rollup.refresh(s)
    assert done.rows > 0
    with dbmod.session() as s:
        _stored_equal_raw(s)
        _assert_equal_raw(s)
    # not refreshed yet (written now, as the app writes them): a review of an old call, a second review by
    # the same inspector superseding the first (whose updated_at moves to now), a third inspector's review
    with dbmod.session() as s:
        reviewed = [cid for cid in ids if s.exec(select(Evaluation).where(
            Evaluation.call_id == cid, Evaluation.kind == EvaluationKind.human)).first()]
        _review(s, ids[1], r, datetime.now(UTC))
        _review(s, reviewed[0], r, datetime.now(UTC), inspector="qa1")
        _review(s, reviewed[1], r, datetime.now(UTC), inspector="qa3")
    with dbmod.session() as s:
        _assert_equal_raw(s)
        since = datetime.now(UTC) - timedelta(hours=1)  # only today's answers: the live tail
        assert item_agreements(s, now=since + timedelta(hours=2), days=1) == _raw(s, since + timedelta(hours=1)
                                                                                   - timedelta(days=1))
    for _ in range(2):  # refreshing again recomputes days, never adds to them
        with dbmod.session() as s:
            agreement_rollup.refresh(s)
        with dbmod.session() as s:
            _stored_equal_raw(s)
            _assert_equal_raw(s)
            total = sum(d.n for d in s.exec(select(AgreementDay)) if d.lo_day == "")
            assert total == sum(len(v) for v in reviewed_pairs(s, since=T0 - timedelta(days=2)).values())


def test_dashboard_agreement_reads_the_stored_days_once_refreshed(db_url: str) -> None:
    """What makes the dashboard fast: after a refresh the pair counts come from agreement_days."""
    with dbmod.session() as s:
        _world(s, random.Random(4), 40)
        # calls written a day ago, as in a database in use (a call changed since the refresh is read raw)
        s.execute(sa.update(Call).values(updated_at=datetime.now(UTC) - timedelta(days=1)))
        agreement_rollup.refresh(s)
    window = {"start": T0, "end": T0 + timedelta(days=30)}
    sup = Principal("sup", Role.supervisor)
    with dbmod.session() as s:
        before = {a["item"]: a["reviewed"] for a in dashboard.agreement(s, sup, **window)}
        row = s.exec(select(AgreementDay).where(AgreementDay.auto_answer == "yes", AgreementDay.final_answer == "yes",
                                                AgreementDay.lo_day == "", AgreementDay.day >= "2026-05-01")).first()
        assert row is not None
        row.n += 100
        s.add(row)
    with dbmod.session() as s:
        after = {a["item"]: a["reviewed"] for a in dashboard.agreement(s, sup, **window)}
    assert Counter(after) - Counter(before) == Counter({row.item_id: 100})


def test_refresh_with_no_answers_writes_nothing(db_url: str) -> None:
    with dbmod.session() as s:
        done = agreement_rollup.refresh(s)
    assert done.rows == 0
    with dbmod.session() as s:
        assert agreement_rollup.refresh(s).rows == 0
