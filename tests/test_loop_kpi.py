"""The plan's KPIs on hand-built call sets: FCR across the period's edge, calls per hour across shifts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from review_app.session import _TOKEN as TOKEN
from review_app.workflow.kpis import kpi_rows
from scoring.kpi import KpiCall, calls_per_hour, compute, first_contact_resolved, shift_hours
from storage.calls import Call, Direction
from storage.db import session
from storage.reviews import Review, Verdict
from storage.users import Principal, Role

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def at(day: int, hour: float = 9.0) -> datetime:
    return JAN + timedelta(days=day - 1, hours=hour)


def call(cid: str, when: datetime, *, minutes: float = 5, agent: str = "A", customer: str | None = None,
         **kw) -> KpiCall:
    return KpiCall(call_id=cid, started_at=when, duration_s=minutes * 60, agent_id=agent, customer=customer, **kw)


def starts(calls: list[KpiCall], *extra: tuple[str, datetime]) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {}
    for c in calls:
        if c.customer:
            out.setdefault(c.customer, []).append(c.started_at)
    for number, when in extra:
        out.setdefault(number, []).append(when)
    return {k: sorted(v) for k, v in out.items()}


def test_fcr_counts_repeat_calls_after_the_period_edge_and_within_n_days_only():
    january = [
        call("x", at(31, 23), customer="111"),  # calls back on Feb 2 (outside January): not resolved
        call("y1", at(20), customer="222"),  # next call 8 days later: resolved
        call("y2", at(28), customer="222"),  # no later call: resolved
        call("z1", at(30, 9), customer="333"),  # calls back the same day: not resolved
        call("z2", at(30, 15), customer="333"),
        call("w1", at(10), customer="444"),  # again exactly 7 days later: still within N days
        call("w2", at(17), customer="444"),
        call("anon", at(12)),  # no number: not counted
    ]
    later = starts(january, ("111", at(33, 8)))
    assert first_contact_resolved(january, later, fcr_days=7) == [False, True, True, False, True, False, True]
    k = compute(january, later, fcr_days=7, shift_gap_s=3600)
    assert k.fcr_rate == pytest.approx(100 * 4 / 7)
    # without the February call the edge case looks resolved: the later calls must be looked up
    assert compute(january, starts(january), fcr_days=7, shift_gap_s=3600).fcr_rate == pytest.approx(100 * 5 / 7)


def test_calls_per_hour_counts_only_the_hours_inside_shifts():
    """A: 09:00-12:00 and 13:30-15:00 (a 90-minute break ends the shift): 7 calls in 4.5 h; B: 2 in 1 h."""
    a = [call(f"a{k}", at(5, h)) for k, h in enumerate([9, 9 + 55 / 60, 10 + 50 / 60, 11 + 55 / 60,  # 5-min calls
                                                         13.5, 14 + 20 / 60, 14 + 55 / 60])]
    b = [call("b1", at(5, 9), minutes=10, agent="B"), call("b2", at(5, 9 + 50 / 60), minutes=10, agent="B")]
    assert shift_hours(a, shift_gap_s=3600) == pytest.approx(4.5)
    assert calls_per_hour(a, shift_gap_s=3600) == pytest.approx(7 / 4.5)
    assert calls_per_hour(b, shift_gap_s=3600) == pytest.approx(2.0)
    assert calls_per_hour(a + b, shift_gap_s=3600) == pytest.approx(9 / 5.5)  # each agent's own shifts
    # with a 2-hour gap allowed the break is worked time: one shift 09:00-15:00
    assert shift_hours(a, shift_gap_s=7200) == pytest.approx(6.0)
    # an agent's calls on two days are two shifts, the night between them is not worked
    two_days = [call("d1", at(6, 9), minutes=60), call("d2", at(7, 9), minutes=60)]
    assert shift_hours(two_days, shift_gap_s=3600) == pytest.approx(2.0)


def test_scores_holds_acw_and_rates_keep_what_the_records_cannot_say_apart():
    calls = [
        call("r", at(3), minutes=10, human_score=60.0, auto_score=None, passed=False, critical_fail=True,
             retraining=True, hold_s=120.0, hold_count=2, acw_s=60.0, non_talk_s=90.0, overtalk_s=6.0,
             overtalk_count=1, complaint=True),
        call("s", at(4), minutes=10, auto_score=90.0, passed=True, non_talk_s=30.0, overtalk_s=0.0,
             overtalk_count=0, complaint=False),
        call("t", at(5), minutes=10),  # not evaluated, no facts
    ]
    k = compute(calls, {}, fcr_days=7, shift_gap_s=3600)
    assert (k.calls, k.evaluated) == (3, 2)
    assert (k.score_human, k.score_auto, k.score_combined) == (60.0, 90.0, 75.0)
    assert k.hold_share == pytest.approx(100 * 120 / 600) and k.holds_per_call == 2.0  # only "r" had PBX holds
    assert k.acw_s == 60.0 and k.aht_s == pytest.approx(480 + 60)  # talk = 600 s - 120 s hold, + ACW
    assert k.avg_talk_s == pytest.approx((480 + 600 + 600) / 3)
    assert k.silence_share == pytest.approx(100 * 120 / 1200) and k.overtalks_per_call == 0.5
    assert (k.pass_rate, k.critical_fail_rate, k.retraining, k.complaint_share) == (50.0, 50.0, 1, 50.0)
    none = compute([call("u", at(1))], {}, fcr_days=7, shift_gap_s=3600)
    assert none.aht_s is None and none.acw_s is None and none.hold_share is None and none.score_combined is None


def test_kpi_rows_read_the_database_per_agent_and_month(sqlite_db):
    """Stored calls, a review and an ACD wrap-up time become one row per agent; FCR sees February."""
    sup = Principal("sup", Role.supervisor)

    def add(s, cid, when, agent, caller, **meta):
        s.add(Call(call_id=cid, agent_id=agent, team="T1", caller=caller, direction=Direction.inbound,
                   started_at=when, duration_s=300, codec="pcm", sample_rate=8000, channels=2, audio_key=cid,
                   size_bytes=1, sha256="0" * 64, meta=meta))

    with session() as s:
        add(s, "c1", at(31, 22), "A1", "111", acw_s=40)
        add(s, "c2", at(15), "A1", "222")
        add(s, "c3", at(15), "A2", "333")
        add(s, "feb", at(33), "A2", "111")  # the customer of c1 calls back in February
        s.flush()
        s.add(Review(call_id="c2", evaluation_id=1, inspector="i", verdict=Verdict.retraining, score=70.0,
                     passed=False))
    with session() as s:
        rows = kpi_rows(s, sup, start=JAN, end=at(32, 0), by="agent", period="month")
    assert [(r.group, r.period) for r in rows] == [("A1", "2026-01"), ("A2", "2026-01")]
    a1 = rows[0].kpis
    assert (a1.calls, a1.score_human, a1.retraining, a1.acw_s, a1.fcr_rate) == (2, 70.0, 1, 40.0, 50.0)
    assert rows[1].kpis.aht_s is None  # A2's calls carry no wrap-up time: "needs ACD data"
    with session() as s:
        other = kpi_rows(s, Principal("sup-b", Role.supervisor, tenant="b"), start=JAN, end=at(32, 0))
    assert other == []


@pytest.mark.app
def test_kpi_page_shows_definitions_and_says_what_data_is_missing(sqlite_db, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from review_app.i18n import t
    from tests import review_world

    review_world.fast_hashing(monkeypatch)
    review_world.build()
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "review_app" / "app.py"), default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("sup")
    at.run()
    at.switch_page("views/kpis.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table[t("kpi_group")]) == ["A1", "A2"]
    assert set(table[t("kpi_aht_s")]) == {t("kpi_needs_acd")}  # the test calls carry no wrap-up time
    assert t("kpidef_calls_per_hour") in "\n".join(str(x.value) for x in at.text)
