"""Scheduled sampling: each plan runs exactly once per period, even with two schedulers on one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from review_app.workflow import sampling
from review_app.workflow.schedule import periods, run_once
from storage.calls import Call
from storage.db import session
from storage.errors import InvalidInput
from storage.reviews import Assignment, SamplingPlan, SamplingRun
from storage.schedules import SamplingClaim
from storage.users import Principal, Role

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
SUP = Principal("sup", Role.supervisor)
HOURLY = "0 * * * *"


def test_periods_follow_the_cron_expression_from_the_plans_creation():
    """Created at 00:20 with an hourly schedule: periods [00:00, 01:00), [01:00, 02:00) ... as they end."""
    created = T0 + timedelta(minutes=20)
    got = periods(HOURLY, created=created, after=None, now=T0 + timedelta(hours=2, minutes=5), limit=100)
    assert got == [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    later = periods(HOURLY, created=created, after=T0 + timedelta(hours=1), now=T0 + timedelta(hours=2), limit=100)
    assert later == [(T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    assert len(periods(HOURLY, created=created, after=None, now=T0 + timedelta(days=30), limit=5)) == 5


def test_a_plan_refuses_a_bad_schedule(sqlite_db):
    with session() as s, pytest.raises(InvalidInput, match="cron"):
        sampling.create_plan(s, SUP, name="p", mode="per_agent", count=1, inspectors=["i"], schedule="hourly")


def _plans_and_calls() -> list[int]:
    with session() as s:
        ids = []
        for name in ("per-agent", "percent"):
            plan = sampling.create_plan(s, SUP, name=name, mode="per_agent" if name == "per-agent" else "percent",
                                        count=1, percent=50, minimum=1, inspectors=["insp1", "insp2"],
                                        schedule=HOURLY)
            plan.created_at = T0 + timedelta(minutes=1)
            s.add(plan)
            ids.append(plan.id)
        for h in range(6):
            for n in range(3):
                s.add(Call(call_id=f"c-{h}-{n}", agent_id=f"A{n % 2}", started_at=T0 + timedelta(hours=h, minutes=n),
                           codec="pcm", sample_rate=8000, channels=2, audio_key=f"k{h}{n}", size_bytes=1,
                           sha256="0" * 64))
    return ids


def _assert_once_per_period(plan_ids: list[int], hours: int) -> None:
    with session() as s:
        for pid in plan_ids:
            claims = s.exec(select(SamplingClaim).where(SamplingClaim.plan_id == pid)).all()
            assert sorted(c.period_start for c in claims) == [T0 + timedelta(hours=h) for h in range(hours)]
            runs = s.exec(select(SamplingRun).where(SamplingRun.plan_id == pid)).all()
            assert sorted(r.window_start for r in runs) == [T0 + timedelta(hours=h) for h in range(hours)]
            assert {c.run_id for c in claims} == {r.id for r in runs}
        assigned = Counter(a.call_id for a in s.exec(select(Assignment)))
        assert assigned and max(assigned.values()) == 1  # no call sampled twice


DRIVER = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from review_app.workflow.schedule import run_once
    out = []
    for now in sys.argv[1:]:
        out += [[r.plan_id, r.period_start.isoformat()] for r in run_once(now=datetime.fromisoformat(now))]
    print(json.dumps(out))
""")


@pytest.mark.integration
def test_two_scheduler_processes_run_each_plan_exactly_once_per_period(db_url):
    """Two processes tick through the same five hours at once; every (plan, hour) ran once in all."""
    plan_ids = _plans_and_calls()
    ticks = [(T0 + timedelta(hours=k, seconds=30)).isoformat() for k in range(1, 6)]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, *ticks], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    ran = [tuple(r) for out in outs for r in json.loads(out)]
    assert len(ran) == len(set(ran)) == 2 * 5
    _assert_once_per_period(plan_ids, 5)


def test_missed_periods_run_once_after_a_restart(db_url):
    """Down from 02:30 to 05:30: the next tick runs hours 2, 3 and 4 once each, the one after nothing."""
    plan_ids = _plans_and_calls()
    assert len(run_once(now=T0 + timedelta(hours=2, minutes=30))) == 2 * 2
    assert len(run_once(now=T0 + timedelta(hours=5, minutes=30))) == 2 * 3
    assert run_once(now=T0 + timedelta(hours=5, minutes=40)) == []
    _assert_once_per_period(plan_ids, 5)
    with session() as s:
        plan = s.get(SamplingPlan, plan_ids[0])
        assert plan.tenant == "default" and plan.schedule == HOURLY


def test_schedule_cli_runs_once_and_refuses_a_bad_time(sqlite_db):
    _plans_and_calls()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "callqc", "schedule", "run-once", "--now", "2026-11-02T01:10:00Z"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\trun ") == 2 and "2026-11-02T00:00:00+00:00" in r.stdout
    r = subprocess.run([sys.executable, "-m", "callqc", "schedule", "run-once", "--now", "yesterday"],
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [
        "error: invalid input: --now 'yesterday': use an ISO time such as 2026-12-01T02:00:00Z"]
