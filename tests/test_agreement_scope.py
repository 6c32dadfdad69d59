"""The dashboard's AI-vs-human agreement counts only the calls its viewer may see (their tenant, their
teams, the team asked for) and only evaluations last updated before the window's end (SQLite and
PostgreSQL); the scoped, windowed figures from the agreement rollup equal those from the raw answers,
before and after refreshes, with late reviews not yet refreshed, for windows in UTC, +08:00 and +05:30."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from review_app.workflow import dashboard
from scoring import agreement_rollup
from scoring.agreement import agreement_of, reviewed_pairs, window_agreements
from scoring.agreement_rollup import EVERY, Scope
from storage import db as dbmod
from storage.calls import Call, CallStatus
from storage.errors import Forbidden
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource, supersede
from storage.settings import get_settings
from storage.users import Principal, Role

T0 = datetime(2026, 5, 1, tzinfo=UTC)
ITEMS = ("greet", "verify", "resolved")
PLACES = (("acme", "t1"), ("acme", "t2"), ("acme", None), ("other", "t1"))


def _call(s: Session, cid: str, tenant: str, team: str | None, when: datetime) -> None:
    s.add(Call(call_id=cid, tenant=tenant, agent_id="a1", team=team, started_at=when, duration_s=60.0,
               codec="pcm_s16le", sample_rate=8000, channels=2, audio_key=f"k/{cid}", size_bytes=1,
               sha256="0" * 64, status=CallStatus.scored))
    s.flush()


def _evaluation(s: Session, cid: str, when: datetime, kind: EvaluationKind, evaluator: str,
                answers: dict[str, tuple[str | None, str | None]]) -> Evaluation:
    ev = Evaluation(call_id=cid, rubric_id="default", rubric_version=1, kind=kind, evaluator=evaluator, total=80.0,
                    created_at=when, updated_at=when)
    s.add(ev)
    s.flush()
    assert ev.id is not None
    for item, (auto, final) in answers.items():
        s.add(EvaluationItem(evaluation_id=ev.id, item_id=item, section_id="s", check_kind="rule", points=10,
                             auto_answer=auto, final_answer=final,
                             final_source=FinalSource.human if final is not None else None))
    return ev


def test_another_tenants_and_another_teams_evaluations_do_not_count(db_url: str) -> None:
    """acme/t1's inspectors always agree with the machine; everyone else's never do: any leak shows."""
    window = {"start": T0, "end": T0 + timedelta(days=10)}
    with dbmod.session() as s:
        for n, (tenant, team) in enumerate(PLACES * 5):
            cid = f"c-{n:03d}"
            _call(s, cid, tenant, team, T0 + timedelta(hours=n))
            agree = (tenant, team) == ("acme", "t1")
            _evaluation(s, cid, T0 + timedelta(hours=n, minutes=30), EvaluationKind.human, "qa",
                        {i: ("yes", "yes" if agree else "no") for i in ITEMS})
        # acme/t1's review updated after the window's end: not counted either
        _call(s, "late", "acme", "t1", T0 + timedelta(days=9))
        _evaluation(s, "late", T0 + timedelta(days=11), EvaluationKind.human, "qa", {i: ("yes", "no") for i in ITEMS})
    team_sup = Principal("sup-t1", Role.supervisor, tenant="acme", team="t1")
    tenant_sup = Principal("sup", Role.supervisor, tenant="acme")
    inspector = Principal("qa-t2", Role.inspector, tenant="acme", team="t2")
    two_teams = Principal("sup-t12", Role.supervisor, tenant="acme", team="t1", also_teams=("t2",))
    for refreshed in (False, True):
        if refreshed:
            with dbmod.session() as s:
                agreement_rollup.refresh(s)
        with dbmod.session() as s:
            mine = dashboard.agreement(s, team_sup, **window)
            assert [(a["item"], a["reviewed"], a["agreement"]) for a in mine] == [(i, 5, 100.0) for i in sorted(ITEMS)]
            # a team asked for outside the viewer's teams shows nothing; their own team, the same as above
            assert dashboard.agreement(s, team_sup, team="t2", **window) == []
            assert dashboard.agreement(s, team_sup, team="t1", **window) == mine
            assert dashboard.agreement(s, tenant_sup, team="t1", **window) == mine
            # the tenant's supervisor: acme's 15 calls (5 agree), never the other tenant's 5
            assert {(a["reviewed"], a["agreement"]) for a in dashboard.agreement(s, tenant_sup, **window)} == {
                (15, round(100 * 5 / 15, 1))}
            # a supervisor over t1 and t2: both teams' 10 calls, half of them agreeing
            assert {(a["reviewed"], a["agreement"]) for a in dashboard.agreement(s, two_teams, **window)} == {
                (10, 50.0)}
            with pytest.raises(Forbidden):  # an inspector has no dashboard at all
                dashboard.agreement(s, inspector, **window)
            admin = dashboard.agreement(s, Principal("root", Role.admin), **window)
            assert {a["reviewed"] for a in admin} == {20}


def _world(s: Session, r: random.Random, n: int) -> list[str]:
    ids = []
    for i in range(n):
        cid = f"w-{i:04d}"
        tenant, team = r.choice(PLACES)
        when = T0 + timedelta(minutes=r.randrange(20 * 24 * 60))
        _call(s, cid, tenant, team, when)

        def answers(human: bool) -> dict[str, tuple[str | None, str | None]]:
            return {i: (r.choice(("yes", "yes", "no", "n/a", "insufficient", None)),
                        r.choice(("yes", "no", "n/a")) if human and r.random() < 0.9 else None) for i in ITEMS}

        _evaluation(s, cid, when + timedelta(minutes=5), EvaluationKind.auto, "auto", answers(r.random() < 0.1))
        if r.random() < 0.6:
            _evaluation(s, cid, when + timedelta(hours=r.randrange(1, 72), minutes=r.randrange(60)),
                        EvaluationKind.human, "qa1", answers(True))
            if r.random() < 0.4:  # a second inspector, later or (timestamps moved) earlier
                _evaluation(s, cid, when + timedelta(hours=r.randrange(-24, 96), minutes=r.randrange(60)),
                            EvaluationKind.human, "qa2", answers(True))
        ids.append(cid)
    # a newer review updated (lo) on the UTC day where a +05:30 window starts (2026-05-02 18:30 UTC), before
    # and after that start, while the older one was touched again later (t): read from the stored day of
    # t, whether lo is before the window's start is decided on the raw rows
    for n, lo in enumerate((T0 + timedelta(days=1, hours=10), T0 + timedelta(days=1, hours=20))):
        cid = f"lo-{n}"
        _call(s, cid, "acme", "t1", T0 + timedelta(days=1))
        _evaluation(s, cid, T0 + timedelta(days=4), EvaluationKind.human, "qa1", {i: ("yes", "yes") for i in ITEMS})
        _evaluation(s, cid, lo, EvaluationKind.human, "qa2", {i: ("no", "no") for i in ITEMS})
        ids.append(cid)
    # written a day ago, as in a database in use: only what changes later is read raw after a refresh
    s.execute(sa.update(Call).values(updated_at=datetime.now(UTC) - timedelta(days=1)))
    return ids


SCOPES = (EVERY, Scope("acme"), Scope("acme", ("t1",)), Scope("acme", ("t1", "t2")), Scope("other"))


def _windows() -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    for zone in ("UTC", "Asia/Shanghai", "Asia/Kolkata"):
        z = ZoneInfo(zone)
        out += [(datetime(2026, 5, 3, tzinfo=z), datetime(2026, 5, 10, tzinfo=z)),
                (datetime(2026, 5, 6, tzinfo=z), datetime(2026, 5, 31, tzinfo=z))]
    return [*out, (T0 + timedelta(days=4, hours=5, minutes=30), None), (T0 - timedelta(days=3), None)]


def _assert_equal_raw(s: Session) -> None:
    st = get_settings()
    for since, until in _windows():
        for scope in SCOPES:
            want = [agreement_of(k, v, kappa_bar=st.auto_submit_kappa, min_reviews=st.auto_submit_min_reviews)
                    for k, v in sorted(reviewed_pairs(s, since=since, until=until, scope=scope).items())]
            assert window_agreements(s, since, until, scope=scope) == want, (since, until, scope)


def test_scoped_windowed_agreement_from_the_rollup_equals_the_raw_pairs(db_url: str) -> None:
    r = random.Random(7)
    with dbmod.session() as s:
        ids = _world(s, r, 160)
    with dbmod.session() as s:  # never refreshed: every pair from the raw rows
        _assert_equal_raw(s)
        assert any(a.reviewed for a in window_agreements(s, T0, T0 + timedelta(days=9), scope=Scope("acme", ("t1",))))
    with dbmod.session() as s:
        assert agreement_rollup.refresh(s).rows > 0
    with dbmod.session() as s:
        _assert_equal_raw(s)
    with dbmod.session() as s:  # late, not refreshed: a review now of an old call, superseding qa1's
        ev = _evaluation(s, ids[2], datetime.now(UTC), EvaluationKind.human, "qa1",
                         {i: ("yes", "no") for i in ITEMS})
        assert ev.id is not None
        supersede(s, ids[2], "human", "qa1", ev.id)
        s.get(Call, ids[4]).team = "t2"  # type: ignore[union-attr]  # a call moved to another team
        s.get(Call, ids[4]).updated_at = datetime.now(UTC)  # type: ignore[union-attr]
    with dbmod.session() as s:
        _assert_equal_raw(s)
    with dbmod.session() as s:
        agreement_rollup.refresh(s)
    with dbmod.session() as s:
        _assert_equal_raw(s)
